/** The HTTP surface: Bot Framework messages and health. Transport only; no rules live here. */
import type { AddressInfo } from "node:net";
import type { Request as BotRequest } from "botbuilder";
import type { Logger } from "pino";
import restify from "restify";
import type { JitGateway, Store } from "../app/ports.ts";
import type { TeamsBot } from "../chat/teams/teams-bot.ts";
import { asPortcullisError } from "../domain/errors.ts";

export interface HttpDeps {
  readonly bot: TeamsBot;
  readonly store: Store;
  readonly gateway: JitGateway;
  readonly logger: Logger;
}

export interface RunningHttpServer {
  readonly url: string;
  close(): Promise<void>;
}

export function createHttpServer(deps: HttpDeps): restify.Server {
  const { bot, store, gateway, logger } = deps;
  const server = restify.createServer({ name: "portcullis" });
  server.use(restify.plugins.bodyParser({ mapParams: false, maxBodySize: 1_000_000 }));

  server.post("/api/messages", async (req: restify.Request, res: restify.Response) => {
    // restify's Request types `method` as optional; botbuilder's wants it set. It always is on a POST.
    await bot.adapter.process(req as BotRequest, res, (context) =>
      bot.app.run(context).then(() => undefined),
    );
  });

  server.get("/healthz", async (_req: restify.Request, res: restify.Response) => {
    const [storeCheck, armCheck] = await Promise.all([
      check(() => store.ping()),
      check(() => gateway.checkHealth()),
    ]);
    const healthy = storeCheck === "ok" && armCheck === "ok";
    if (!healthy) logger.warn({ store: storeCheck, arm: armCheck }, "health check failed");
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
