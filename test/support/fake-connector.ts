/**
 * A fake Bot Framework connector service: the REST endpoints the bot calls on Teams
 * (Bot Connector API v3) — post/reply/update activities, create conversations, read a member.
 * It records what the bot sent so tests can wait for it. Responses follow the published shapes
 * (ResourceResponse `{id}`, ConversationResourceResponse `{id, activityId, serviceUrl}`, TeamsChannelAccount).
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface SentActivity {
  readonly method: string;
  readonly conversationId: string;
  readonly activityId?: string;
  readonly body: Record<string, unknown>;
}

export interface FakeMember {
  readonly id: string;
  readonly aadObjectId: string;
  readonly name: string;
  readonly userPrincipalName: string;
}

export interface FakeConnector {
  readonly url: string;
  readonly sent: SentActivity[];
  /** Resolves with the first sent activity matching `predicate`, or rejects after `timeoutMs`. */
  waitFor(predicate: (activity: SentActivity) => boolean, timeoutMs?: number): Promise<SentActivity>;
  /**
   * Records matching sends but leaves the bot waiting for the answer until `release()` — to stop
   * the bot in the middle of a step (and kill it there). Once-only: the next match is answered.
   */
  hold(predicate: (activity: SentActivity) => boolean): {
    readonly held: Promise<SentActivity>;
    release(): void;
  };
  close(): Promise<void>;
}

export async function startFakeConnector(
  members: readonly FakeMember[] = [],
  options: {
    /** How long a member lookup (TeamsInfo.getMember) takes; real Teams takes a noticeable while. */
    readonly memberLookupDelayMs?: number;
  } = {},
): Promise<FakeConnector> {
  const sent: SentActivity[] = [];
  const waiters: {
    predicate: (activity: SentActivity) => boolean;
    resolve: (activity: SentActivity) => void;
  }[] = [];

  const holds: {
    predicate: (activity: SentActivity) => boolean;
    resolve: (activity: SentActivity) => void;
    released: Promise<void>;
  }[] = [];
  const open = new Set<ServerResponse>();

  const record = (activity: SentActivity) => {
    sent.push(activity);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(activity)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(activity);
      }
    }
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://fake");
    const body = await readJson(req);
    const reply = (status: number, payload: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(payload));
    };
    const parts = url.pathname
      .split("/")
      .filter((part) => part !== "")
      .map(decodeURIComponent);
    // /v3/conversations
    if (parts[0] !== "v3" || parts[1] !== "conversations")
      return reply(404, { error: { code: "NotFound", message: url.pathname } });
    if (req.method === "POST" && parts.length === 2) {
      const id = `a:${randomUUID()}`;
      return reply(201, { id, activityId: randomUUID(), serviceUrl: `http://${req.headers.host}` });
    }
    const conversationId = parts[2] ?? "";
    if (parts[3] === "activities") {
      const activityId = parts[4];
      if (req.method === "POST" || req.method === "PUT") {
        const id = req.method === "PUT" && activityId ? activityId : randomUUID();
        const activity: SentActivity = {
          method: req.method,
          conversationId,
          ...(activityId ? { activityId } : {}),
          body: { ...body, id },
        };
        record(activity);
        const hold = holds.find((candidate) => candidate.predicate(activity));
        if (hold) {
          holds.splice(holds.indexOf(hold), 1);
          hold.resolve(activity);
          open.add(res);
          await hold.released;
          open.delete(res);
        }
        return reply(200, { id });
      }
      if (req.method === "DELETE") return reply(200, {});
    }
    if (parts[3] === "members" && req.method === "GET") {
      if (options.memberLookupDelayMs)
        await new Promise((resolve) => setTimeout(resolve, options.memberLookupDelayMs));
      const wanted = parts[4];
      const found = members.filter(
        (member) => wanted === undefined || member.id === wanted || member.aadObjectId === wanted,
      );
      if (wanted === undefined) return reply(200, found);
      const [member] = found;
      return member
        ? reply(200, member)
        : reply(404, { error: { code: "MemberNotFound", message: "no such member" } });
    }
    return reply(404, { error: { code: "NotFound", message: url.pathname } });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    sent,
    waitFor(predicate, timeoutMs = 15_000) {
      const existing = sent.find(predicate);
      if (existing) return Promise.resolve(existing);
      return new Promise((resolve, reject) => {
        const waiter = { predicate, resolve };
        waiters.push(waiter);
        setTimeout(() => {
          const index = waiters.indexOf(waiter);
          if (index >= 0) {
            waiters.splice(index, 1);
            reject(
              new Error(
                `no matching activity within ${timeoutMs} ms; sent so far: ${JSON.stringify(sent.map((a) => a.body.text ?? a.body.type))}`,
              ),
            );
          }
        }, timeoutMs).unref();
      });
    },
    hold(predicate) {
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      const held = new Promise<SentActivity>((resolve) => holds.push({ predicate, resolve, released }));
      return { held, release };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
}
