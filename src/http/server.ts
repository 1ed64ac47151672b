/** The HTTP surface: Bot Framework messages, the one-time IP links, health. Transport only. */
import type { AddressInfo } from "node:net";
import type { Request as BotRequest } from "botbuilder";
import restify from "restify";
import type { AppContext } from "../app/context.ts";
import { useSourceLink } from "../app/source-link.ts";
import type { TeamsBot } from "../chat/teams/teams-bot.ts";
import { asPortcullisError } from "../domain/errors.ts";
import { linkPageHtml } from "./link-page.ts";

export interface HttpDeps {
  readonly bot: TeamsBot;
  readonly app: AppContext;
}

export interface RunningHttpServer {
  readonly url: string;
  close(): Promise<void>;
}

export function createHttpServer(deps: HttpDeps): restify.Server {
  const { bot, app } = deps;
  const server = restify.createServer({ name: "portcullis" });
  server.use(restify.plugins.bodyParser({ mapParams: false, maxBodySize: 1_000_000 }));

  server.post("/api/messages", async (req: restify.Request, res: restify.Response) => {
    // restify's Request types `method` as optional; botbuilder's wants it set. It always is on a POST.
    await bot.adapter.process(req as BotRequest, res, (context) =>
      bot.app.run(context).then(() => undefined),
    );
  });

  server.get("/ip/:token", async (req: restify.Request, res: restify.Response) => {
    const token = String(req.params?.token ?? "");
    const forwarded = req.headers["x-forwarded-for"];
    let page: Awaited<ReturnType<typeof useSourceLink>>;
    try {
      page = await useSourceLink(app, token, {
        address: req.socket.remoteAddress ?? "",
        forwardedFor: Array.isArray(forwarded) ? forwarded.join(",") : forwarded,
      });
    } catch (error) {
      const coded = asPortcullisError(error);
      app.logger.error({ err: coded, cause: coded.cause }, "IP link failed");
      page = { status: 500, title: "Something went wrong", message: coded.userMessage };
    }
    const html = linkPageHtml(page);
    res.writeHead(page.status, {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "referrer-policy": "no-referrer",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    });
    res.end(html);
  });

  server.get("/healthz", async (_req: restify.Request, res: restify.Response) => {
    const [storeCheck, armCheck] = await Promise.all([
      check(() => app.store.ping()),
      check(() => app.gateway.checkHealth()),
    ]);
    const healthy = storeCheck === "ok" && armCheck === "ok";
    if (!healthy) app.logger.warn({ store: storeCheck, arm: armCheck }, "health check failed");
    res.send(healthy ? 200 : 503, {
      status: healthy ? "ok" : "unavailable",
      store: storeCheck,
      arm: armCheck,
    });
  });

  return server;
}

export async function listen(server: restify.Server, port: number, host: string): Promise<RunningHttpServer> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function check(probe: () => Promise<void>): Promise<string> {
  try {
    await probe();
    return "ok";
  } catch (error) {
    return asPortcullisError(error).userMessage;
  }
}
