/** The HTTP surface: Bot Framework messages, the one-time IP links, health and readiness. Transport only. */
import type { AddressInfo } from "node:net";
import restify from "restify";
import type { AppContext } from "../app/context.ts";
import { confirmSourceLink, type LinkPage, type LinkPeer, previewSourceLink } from "../app/source-link.ts";
import type { PortcullisTeamsAdapter, TurnAnswer } from "../chat/teams/teams-adapter.ts";
import type { TeamsBot } from "../chat/teams/teams-bot.ts";
import { asPortcullisError } from "../domain/errors.ts";
import { createArmReadiness } from "./arm-readiness.ts";
import { readFormBody } from "./form-body.ts";
import { checkInboundActivity, type ReplyPolicy, replyAllowed } from "./inbound-activity.ts";
import { CONFIRM_PATH, linkPageHtml } from "./link-page.ts";
import { isSameOrigin } from "./same-origin.ts";

export interface HttpDeps {
  readonly bot: TeamsBot;
  /** The adapter `bot` was built on, with the request authenticated on our terms (teams-adapter.ts). */
  readonly adapter: PortcullisTeamsAdapter;
  readonly app: AppContext;
  /** Which serviceUrls an activity may name (where replies go). */
  readonly replies: ReplyPolicy;
}

export interface RunningHttpServer {
  readonly url: string;
  close(): Promise<void>;
}

export function createHttpServer(deps: HttpDeps): restify.Server {
  const { bot, adapter, app, replies } = deps;
  const server = restify.createServer({ name: "portcullis" });
  // Per route, not server.use: the link's form has its own small reader (form-body.ts).
  const messageBody = restify.plugins.bodyParser({ mapParams: false, maxBodySize: 1_000_000 });

  // Refusals are one warn line each, without a stack: a flood of bad requests must not bury the log.
  const refuse = (res: restify.Response, status: number, reason: string, said: string): void => {
    app.logger.warn({ status, reason }, "activity refused at /api/messages");
    res.send(status, { error: said });
  };

  server.post("/api/messages", ...messageBody, async (req: restify.Request, res: restify.Response) => {
    const checked = checkInboundActivity(req.body);
    if (!checked.ok)
      return refuse(res, 400, checked.reason, `Not a Bot Framework activity: ${checked.reason}.`);
    const { activity } = checked;
    if (!replyAllowed(replies, activity.serviceUrl)) {
      return refuse(
        res,
        403,
        `serviceUrl ${new URL(activity.serviceUrl).origin} is not loopback nor in LOCAL_SERVICE_URLS`,
        "In local mode the bot replies only to a connector on loopback (or one in LOCAL_SERVICE_URLS).",
      );
    }
    const header = req.headers.authorization;
    let answer: TurnAnswer;
    try {
      answer = await adapter.handle(typeof header === "string" ? header : "", activity, (context) =>
        bot.app.run(context).then(() => undefined),
      );
    } catch (error) {
      const coded = asPortcullisError(error);
      app.logger.error({ err: error, code: coded.code }, "turn failed");
      res.send(500, { error: "The bot failed to handle this activity." });
      return;
    }
    if (answer.outcome === "refused") {
      const said =
        answer.status === 401 ? "The request's Bot Framework token was refused." : "Try again shortly.";
      return refuse(res, answer.status, answer.reason, said);
    }
    if (answer.body === undefined) res.send(answer.status);
    else res.send(answer.status, answer.body);
  });

  // GET only shows what a confirmation would record: previews and mail scanners open links.
  server.get("/ip/:token", async (req: restify.Request, res: restify.Response) => {
    const token = String(req.params?.token ?? "");
    await sendLinkPage(app, res, () => previewSourceLink(app, token, peerOf(req)));
  });

  server.post(CONFIRM_PATH, async (req: restify.Request, res: restify.Response) => {
    if (!isSameOrigin(req.headers, app.settings.publicBaseUrl)) {
      app.logger.warn(
        { origin: req.headers.origin, referer: req.headers.referer },
        "IP link post from another site refused",
      );
      await sendLinkPage(app, res, async () => ({
        status: 403,
        title: "Not confirmed",
        message:
          "This confirmation did not come from the Portcullis page, so nothing was recorded. Open the link from Teams again and confirm there.",
      }));
      return;
    }
    const form = await readFormBody(req, LINK_FORM_MAX_BYTES);
    if (!form.ok) {
      await sendLinkPage(app, res, async () => ({
        status: form.status,
        title: "Not confirmed",
        message: `Nothing was recorded: ${form.reason}.`,
      }));
      return;
    }
    const token = form.fields.get("token") ?? "";
    const shown = form.fields.get("address") ?? undefined;
    await sendLinkPage(app, res, () => confirmSourceLink(app, token, shown, peerOf(req)));
  });

  // Liveness: the process answers and the store does. ARM is reported beside it from a cache
  // (arm-readiness.ts) and never fails it: with ARM down the bot can still say so to its users.
  const armReadiness = createArmReadiness(() => app.gateway.checkHealth(), app.clock);
  armReadiness.current();
  const health = async (): Promise<{ storeOk: boolean; body: Record<string, string> }> => {
    const [storeCheck, arm] = await Promise.all([
      check(() => app.store.ping()),
      armReadiness.settled(FIRST_ARM_CHECK_WAIT_MS),
    ]);
    const storeOk = storeCheck === "ok";
    if (!storeOk || arm.arm !== "ok")
      app.logger.warn({ store: storeCheck, ...arm }, "health check not clean");
    return { storeOk, body: { status: storeOk ? "ok" : "unavailable", store: storeCheck, ...arm } };
  };

  server.get("/healthz", async (_req: restify.Request, res: restify.Response) => {
    const { storeOk, body } = await health();
    res.send(storeOk ? 200 : 503, body);
  });

  // Readiness in the strict sense (store and ARM both fine, ARM as last checked): for monitors and
  // dashboards. Not for App Service's health check: every instance shares the same ARM.
  server.get("/readyz", async (_req: restify.Request, res: restify.Response) => {
    const { storeOk, body } = await health();
    const ready = storeOk && body.arm === "ok";
    res.send(ready ? 200 : 503, { ...body, status: ready ? "ok" : "unavailable" });
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

/** A health probe before the first ARM answer waits this long for it, then answers without it. */
const FIRST_ARM_CHECK_WAIT_MS = 2_000;

/** A token, the address shown and the form's framing fit in far less. */
const LINK_FORM_MAX_BYTES = 2048;

function peerOf(req: restify.Request): LinkPeer {
  const forwarded = req.headers["x-forwarded-for"];
  return {
    address: req.socket.remoteAddress ?? "",
    forwardedFor: Array.isArray(forwarded) ? forwarded.join(",") : forwarded,
  };
}

/**
 * Link pages are never framed (a confirm button must not be clickjacked), never cached, and only
 * ever send our own origin onward: `same-origin` rather than `no-referrer`, because under
 * no-referrer browsers send `Origin: null` on the confirming POST, and the same-origin check needs it.
 */
async function sendLinkPage(
  app: AppContext,
  res: restify.Response,
  render: () => Promise<LinkPage>,
): Promise<void> {
  let page: LinkPage;
  try {
    page = await render();
  } catch (error) {
    const coded = asPortcullisError(error);
    app.logger.error({ err: coded, cause: coded.cause }, "IP link failed");
    page = { status: 500, title: "Something went wrong", message: coded.userMessage };
  }
  res.writeHead(page.status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "content-security-policy":
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  });
  res.end(linkPageHtml(page));
}

async function check(probe: () => Promise<void>): Promise<string> {
  try {
    await probe();
    return "ok";
  } catch (error) {
    return asPortcullisError(error).userMessage;
  }
}
