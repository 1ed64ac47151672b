/**
 * One store contract, run on embedded PGlite (in memory) and on a real PostgreSQL server
 * (a fresh schema per test, dropped afterwards). The PostgreSQL run never skips silently:
 * it fails with how to start the server, unless PORTCULLIS_SKIP_POSTGRES=1 says to skip.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Clock, StoredRequest } from "../../src/app/ports.ts";
import { ErrorCode, PortcullisError } from "../../src/domain/errors.ts";
import {
  createStore,
  migrate,
  migrations,
  openPglite,
  openStore,
  type PortcullisStore,
  payloadHash,
  pgliteClient,
  postgresClient,
  type SqlClient,
} from "../../src/store/index.ts";

interface StoreFixture {
  readonly store: PortcullisStore;
  /** The store's own connection, to look at columns the ports do not show. */
  readonly sql: SqlClient;
  readonly schema: string;
  /**
   * A second store on the same database, as a second bot process would open it (migrations run
   * again). In-memory PGlite has one connection, so there the peer shares it.
   */
  openPeer(): Promise<PortcullisStore>;
  dispose(): Promise<void>;
}

type MakeStore = (clock: Clock) => Promise<StoreFixture>;

class FakeClock implements Clock {
  current = new Date("2026-11-22T10:00:00.000Z");
  now(): Date {
    return new Date(this.current);
  }
}

const t0 = new Date("2026-11-22T10:00:00.000Z");
const at = (minutes: number): Date => new Date(t0.getTime() + minutes * 60_000);

function randomSchema(): string {
  return `portcullis_test_${randomBytes(6).toString("hex")}`;
}

function describeStoreContract(name: string, makeStore: MakeStore): void {
  describe(name, () => {
    let clock: FakeClock;
    let fixture: StoreFixture;
    let store: PortcullisStore;

    beforeEach(async () => {
      clock = new FakeClock();
      fixture = await makeStore(clock);
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.dispose();
    });

    async function insertRequest(id: string, requesterId: string, state: string, minute = 0) {
      return store.requests.insert({
        id,
        requesterId,
        state,
        createdAt: at(minute),
        data: { vm: `vm-${id}` },
      });
    }

    describe("requests", () => {
      it("insert then get → the same request at version 1, dates as Date", async () => {
        const inserted = await store.requests.insert({
          id: "R-1",
          requesterId: "user-a",
          state: "pending",
          createdAt: at(0),
          data: { vm: "web-01", ports: [22], nested: { reason: "INC-4211" } },
        });
        const expected: StoredRequest = {
          id: "R-1",
          version: 1,
          state: "pending",
          requesterId: "user-a",
          createdAt: at(0),
          updatedAt: at(0),
          data: { vm: "web-01", ports: [22], nested: { reason: "INC-4211" } },
        };
        expect(inserted).toEqual(expected);
        const read = await store.requests.get("R-1");
        expect(read).toEqual(expected);
        expect(read?.createdAt).toBeInstanceOf(Date);
        expect(await store.requests.get("R-404")).toBeUndefined();
      });

      it("insert of an existing id → StoreConflict", async () => {
        await insertRequest("R-1", "user-a", "pending");
        const again = insertRequest("R-1", "user-b", "pending");
        await expect(again).rejects.toBeInstanceOf(PortcullisError);
        await expect(again).rejects.toMatchObject({ code: ErrorCode.StoreConflict });
        expect((await store.requests.get("R-1"))?.requesterId).toBe("user-a");
      });

      it("compare-and-swap with the current version wins; with a stale one loses and changes nothing", async () => {
        await insertRequest("R-1", "user-a", "pending");
        clock.current = at(5);
        const won = await store.requests.compareAndSwap("R-1", 1, {
          state: "approved",
          data: { by: "owner-1" },
        });
        expect(won).toMatchObject({ id: "R-1", version: 2, state: "approved", data: { by: "owner-1" } });
        expect(won?.updatedAt).toEqual(at(5));
        expect(won?.createdAt).toEqual(at(0));

        const lost = await store.requests.compareAndSwap("R-1", 1, {
          state: "denied",
          data: { by: "owner-2" },
        });
        expect(lost).toBeUndefined();
        expect(await store.requests.get("R-1")).toMatchObject({
          version: 2,
          state: "approved",
          data: { by: "owner-1" },
        });
        expect(await store.requests.compareAndSwap("R-404", 1, { state: "x", data: {} })).toBeUndefined();
      });

      it("an audit event given with a write is stored with it, and only if the write happened", async () => {
        const event = (type: string) => ({
          at: at(1),
          type,
          actorId: "owner-1",
          requestId: "R-1",
          payload: { type },
        });
        await store.requests.insert(
          { id: "R-1", state: "pending", requesterId: "user-a", createdAt: at(0), data: {} },
          event("request.created"),
        );
        await store.requests.compareAndSwap(
          "R-1",
          1,
          { state: "approved", data: {} },
          event("request.approved"),
        );
        await store.requests.compareAndSwap("R-1", 1, { state: "denied", data: {} }, event("request.denied"));
        const logged = await store.audit.list({ requestId: "R-1" });
        expect(logged.map((entry) => entry.type)).toEqual(["request.created", "request.approved"]);
        expect(logged[1]).toMatchObject({
          actorId: "owner-1",
          payload: { type: "request.approved" },
          at: at(1),
        });
        expect(logged[1]?.payloadHash).toMatch(/^[0-9a-f]{64}$/);
      });

      it("20 concurrent compare-and-swaps on the same version → exactly one wins", async () => {
        await insertRequest("R-1", "user-a", "pending");
        const peer = await fixture.openPeer();
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 === 0 ? store : peer).requests.compareAndSwap("R-1", 1, {
              state: "approved",
              data: { by: `owner-${i}` },
            }),
          ),
        );
        const winners = results.filter((result) => result !== undefined);
        expect(winners).toHaveLength(1);
        const final = await store.requests.get("R-1");
        expect(final?.version).toBe(2);
        expect(final?.data).toEqual(winners[0]?.data);
      });

      it("nextRequestId → unique R-n ids under concurrency, across processes", async () => {
        const peer = await fixture.openPeer();
        const ids = await Promise.all(
          Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? store : peer).requests.nextRequestId()),
        );
        expect(new Set(ids).size).toBe(40);
        for (const id of ids) expect(id).toMatch(/^R-[1-9]\d*$/);
      });

      it("listByRequester and listByState filter by requester and state, oldest first", async () => {
        await insertRequest("R-3", "user-a", "active", 3);
        await insertRequest("R-1", "user-a", "pending", 1);
        await insertRequest("R-2", "user-b", "pending", 2);
        await insertRequest("R-4", "user-a", "expired", 4);
        const ids = (list: readonly StoredRequest[]) => list.map((r) => r.id);

        expect(ids(await store.requests.listByRequester("user-a"))).toEqual(["R-1", "R-3", "R-4"]);
        expect(ids(await store.requests.listByRequester("user-a", ["pending", "active"]))).toEqual([
          "R-1",
          "R-3",
        ]);
        expect(await store.requests.listByRequester("user-a", [])).toEqual([]);
        expect(await store.requests.listByRequester("nobody")).toEqual([]);
        expect(ids(await store.requests.listByState(["pending"]))).toEqual(["R-1", "R-2"]);
        expect(ids(await store.requests.listByState(["active", "expired"]))).toEqual(["R-3", "R-4"]);
        expect(await store.requests.listByState([])).toEqual([]);
        expect((await store.requests.listByState<{ vm: string }>(["active"]))[0]?.data.vm).toBe("vm-R-3");
      });

      it("listOnVms finds requests by a target's VM id (any case) and state; listKindSince by kind and age", async () => {
        const vm = (name: string) =>
          `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/${name}`;
        const put = (id: string, state: string, vms: string[], kind: string | undefined, minute: number) =>
          store.requests.insert({
            id,
            requesterId: "user-a",
            state,
            createdAt: at(minute),
            data: { request: { kind, targets: vms.map((name) => ({ vmId: vm(name), ports: [22] })) } },
          });
        await put("R-1", "active", ["web-01"], "break_glass", 1);
        await put("R-2", "pending", ["web-02", "WEB-01"], undefined, 2);
        await put("R-3", "expired", ["web-01"], "break_glass", 3);
        await put("R-4", "pending", ["db-01"], undefined, 4);
        const ids = (list: readonly StoredRequest[]) => list.map((r) => r.id);
        expect(ids(await store.requests.listOnVms([vm("Web-01")], ["active", "pending"]))).toEqual([
          "R-1",
          "R-2",
        ]);
        expect(ids(await store.requests.listOnVms([vm("web-02"), vm("db-01")], ["pending"]))).toEqual([
          "R-2",
          "R-4",
        ]);
        expect(await store.requests.listOnVms([], ["pending"])).toEqual([]);
        expect(ids(await store.requests.listKindSince("break_glass", at(2)))).toEqual(["R-3"]);
      });

      it("exclusive: concurrent check-then-insert under one lock, across processes → exactly one insert", async () => {
        const peer = await fixture.openPeer();
        const attempt = (which: PortcullisStore, i: number) =>
          which.requests.exclusive(["vm:web-01"], async (tx) => {
            const open = await tx.listByState(["pending"]);
            if (open.length > 0) return false;
            await tx.insert({
              id: `R-${i}`,
              requesterId: "user-a",
              state: "pending",
              createdAt: at(i),
              data: {},
            });
            return true;
          });
        const won = await Promise.all(
          Array.from({ length: 8 }, (_, i) => attempt(i % 2 === 0 ? store : peer, i)),
        );
        expect(won.filter(Boolean)).toHaveLength(1);
        expect(await store.requests.listByState(["pending"])).toHaveLength(1);
      });

      it("exclusive: a throw rolls back everything written inside", async () => {
        await expect(
          store.requests.exclusive(["vm:web-01"], async (tx) => {
            await tx.insert({
              id: "R-1",
              requesterId: "user-a",
              state: "pending",
              createdAt: at(1),
              data: {},
            });
            throw new Error("refused");
          }),
        ).rejects.toThrow("refused");
        expect(await store.requests.get("R-1")).toBeUndefined();
      });
    });

    describe("audit", () => {
      it("append → increasing seq, listed in append order with every field", async () => {
        const first = await store.audit.append({
          at: at(1),
          type: "request.created",
          actorId: "user-a",
          requestId: "R-1",
          payload: { vm: "web-01", port: 22 },
        });
        const second = await store.audit.append({
          at: at(2),
          type: "bot.started",
          actorId: "system",
          payload: {},
        });
        expect(second.seq).toBeGreaterThan(first.seq);
        expect(typeof first.seq).toBe("number");
        expect(first).toMatchObject({
          at: at(1),
          type: "request.created",
          actorId: "user-a",
          requestId: "R-1",
          payload: { vm: "web-01", port: 22 },
        });
        expect("requestId" in second).toBe(false);
        const listed = await store.audit.list();
        expect(listed).toEqual([first, second]);
        expect(listed[0]?.at).toBeInstanceOf(Date);
      });

      it("payload hash = sha256 of the payload's canonical JSON, stored with the row", async () => {
        const event = await store.audit.append({
          at: at(1),
          type: "request.approved",
          actorId: "owner-1",
          requestId: "R-1",
          payload: { z: 1, a: { y: [true, null, "s"], b: "x" }, skipped: undefined },
        });
        const canonical = '{"a":{"b":"x","y":[true,null,"s"]},"z":1}';
        const expected = createHash("sha256").update(canonical).digest("hex");
        expect(event.payloadHash).toBe(expected);
        expect(payloadHash({ a: { b: "x", y: [true, null, "s"] }, z: 1 })).toBe(expected);
        // The hash still matches what comes back out of jsonb (which reorders keys).
        const [listed] = await store.audit.list({ requestId: "R-1" });
        expect(listed?.payloadHash).toBe(expected);
        expect(payloadHash(listed?.payload)).toBe(expected);
        const rows = await fixture.sql.query<{ payload_hash: string }>(
          "SELECT payload_hash FROM audit_events WHERE seq = $1",
          [event.seq],
        );
        expect(rows[0]?.payload_hash).toBe(expected);
      });

      it("audit rows cannot be updated or deleted, even with SQL", async () => {
        const event = await store.audit.append({ at: at(1), type: "t", actorId: "a", payload: { n: 1 } });
        await expect(
          fixture.sql.query("UPDATE audit_events SET actor_id = 'mallory' WHERE seq = $1", [event.seq]),
        ).rejects.toThrow(/append-only/);
        await expect(fixture.sql.query("DELETE FROM audit_events")).rejects.toThrow(/append-only/);
        expect(await store.audit.list()).toHaveLength(1);
      });

      it("list filters by requestId, since (inclusive) and limit", async () => {
        for (const [minute, requestId] of [
          [1, "R-1"],
          [2, "R-2"],
          [3, "R-1"],
          [4, undefined],
          [5, "R-1"],
        ] as const) {
          await store.audit.append({
            at: at(minute),
            type: "e",
            actorId: "a",
            ...(requestId === undefined ? {} : { requestId }),
            payload: { minute },
          });
        }
        const minutes = (list: readonly { payload: Readonly<Record<string, unknown>> }[]) =>
          list.map((event) => event.payload.minute);
        expect(minutes(await store.audit.list({ requestId: "R-1" }))).toEqual([1, 3, 5]);
        expect(minutes(await store.audit.list({ since: at(3) }))).toEqual([3, 4, 5]);
        expect(minutes(await store.audit.list({ requestId: "R-1", since: at(2) }))).toEqual([3, 5]);
        expect(minutes(await store.audit.list({ limit: 2 }))).toEqual([1, 2]);
        expect(await store.audit.list({ requestId: "R-404" })).toEqual([]);
      });
    });

    describe("conversations", () => {
      it("upsert then get; a second upsert replaces the reference", async () => {
        await store.conversations.upsert({
          key: "user:aad-1",
          channel: "msteams",
          reference: { conversation: { id: "a:1" } },
          userPrincipalName: "Alice@Contoso.com",
          updatedAt: at(1),
        });
        expect(await store.conversations.get("user:aad-1")).toEqual({
          key: "user:aad-1",
          channel: "msteams",
          reference: { conversation: { id: "a:1" } },
          userPrincipalName: "Alice@Contoso.com",
          updatedAt: at(1),
        });
        await store.conversations.upsert({
          key: "user:aad-1",
          channel: "msteams",
          reference: { conversation: { id: "a:2" } },
          updatedAt: at(2),
        });
        // Without a UPN the one already known is kept.
        expect(await store.conversations.get("user:aad-1")).toEqual({
          key: "user:aad-1",
          channel: "msteams",
          reference: { conversation: { id: "a:2" } },
          userPrincipalName: "Alice@Contoso.com",
          updatedAt: at(2),
        });
        expect(await store.conversations.get("user:nobody")).toBeUndefined();
      });

      it("findByUserPrincipalName ignores case and returns only 1:1 references", async () => {
        await store.conversations.upsert({
          key: "conversation:19:channel",
          channel: "msteams",
          reference: { conversation: { id: "19:channel" } },
          userPrincipalName: "bob@contoso.com",
          updatedAt: at(1),
        });
        expect(await store.conversations.findByUserPrincipalName("bob@contoso.com")).toBeUndefined();
        await store.conversations.upsert({
          key: "user:aad-bob",
          channel: "msteams",
          reference: { conversation: { id: "a:bob" } },
          userPrincipalName: "Bob@Contoso.com",
          updatedAt: at(2),
        });
        const found = await store.conversations.findByUserPrincipalName("BOB@contoso.COM");
        expect(found?.key).toBe("user:aad-bob");
        expect(found?.userPrincipalName).toBe("Bob@Contoso.com");
        expect(await store.conversations.findByUserPrincipalName("carol@contoso.com")).toBeUndefined();
      });
    });

    describe("timers", () => {
      const lease = (minutes: number) => at(minutes);

      it("claimDue claims only due timers, with payload and attempt 1", async () => {
        await store.timers.schedule({
          key: "expiry:R-1",
          kind: "expiry",
          dueAt: at(10),
          payload: { requestId: "R-1" },
        });
        await store.timers.schedule({
          key: "warn:R-1",
          kind: "warning",
          dueAt: at(5),
          payload: { requestId: "R-1" },
        });
        await store.timers.schedule({ key: "expiry:R-2", kind: "expiry", dueAt: at(60), payload: {} });

        expect(await store.timers.claimDue(at(4), "p1", lease(6), 10)).toEqual([]);
        const claimed = await store.timers.claimDue(at(10), "p1", lease(12), 10);
        expect(claimed.map((timer) => timer.key)).toEqual(["warn:R-1", "expiry:R-1"]);
        expect(claimed[1]).toMatchObject({
          key: "expiry:R-1",
          kind: "expiry",
          dueAt: at(10),
          payload: { requestId: "R-1" },
          attempts: 1,
        });
        expect(typeof claimed[0]?.id).toBe("number");
      });

      it("claimDue respects the limit, earliest first", async () => {
        for (let i = 1; i <= 5; i += 1) {
          await store.timers.schedule({ key: `t${i}`, kind: "k", dueAt: at(10 - i), payload: {} });
        }
        const claimed = await store.timers.claimDue(at(10), "p1", lease(20), 2);
        expect(claimed.map((timer) => timer.key)).toEqual(["t5", "t4"]);
        expect(await store.timers.claimDue(at(10), "p1", lease(20), 0)).toEqual([]);
      });

      it("claimDue respects the limit with hundreds due (the planner once re-ran the pick and took all)", async () => {
        for (let start = 0; start < 300; start += 50) {
          await Promise.all(
            Array.from({ length: 50 }, (_, i) =>
              store.timers.schedule({ key: `m${start + i}`, kind: "k", dueAt: at(-1), payload: {} }),
            ),
          );
        }
        expect(await store.timers.claimDue(at(0), "p1", lease(5), 20)).toHaveLength(20);
        const claimedRows = await fixture.sql.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM timers WHERE owner IS NOT NULL",
        );
        expect(claimedRows[0]?.n).toBe(20);
      });

      it("a lease keeps others off until it runs out; then the timer is claimed again", async () => {
        await store.timers.schedule({ key: "k1", kind: "k", dueAt: at(1), payload: {} });
        expect(await store.timers.claimDue(at(1), "p1", lease(3), 10)).toHaveLength(1);
        expect(await store.timers.claimDue(at(2), "p2", lease(4), 10)).toEqual([]);
        // p1 died: after the lease the timer fires late rather than never.
        const again = await store.timers.claimDue(at(4), "p2", lease(6), 10);
        expect(again).toHaveLength(1);
        expect(again[0]?.attempts).toBe(2);
        // p1's late completion is a no-op: p2 holds the claim now.
        await store.timers.complete(again[0]?.id ?? -1, "p1");
        expect(await store.timers.claimDue(at(7), "p3", lease(9), 10)).toHaveLength(1);
      });

      it("two concurrent claimers get disjoint sets that cover every due timer", async () => {
        for (let i = 0; i < 60; i += 1) {
          await store.timers.schedule({ key: `t${i}`, kind: "k", dueAt: at(i % 7), payload: { i } });
        }
        const peer = await fixture.openPeer();
        const drain = async (who: PortcullisStore, owner: string) => {
          const keys: string[] = [];
          for (;;) {
            const batch = await who.timers.claimDue(at(10), owner, lease(30), 4);
            if (batch.length === 0) return keys;
            keys.push(...batch.map((timer) => timer.key));
          }
        };
        const [a, b] = await Promise.all([drain(store, "a"), drain(peer, "b")]);
        const all = [...a, ...b];
        expect(new Set(all).size).toBe(all.length);
        expect(all).toHaveLength(60);
      });

      it("complete → never claimed again; only the owner can complete", async () => {
        await store.timers.schedule({ key: "k1", kind: "k", dueAt: at(1), payload: {} });
        await store.timers.schedule({ key: "k2", kind: "k", dueAt: at(1), payload: {} });
        const [first, second] = await store.timers.claimDue(at(1), "p1", lease(2), 10);
        await store.timers.complete(first?.id ?? -1, "someone-else");
        await store.timers.complete(second?.id ?? -1, "p1");
        // After the lease only the timer that was not really completed comes back.
        const again = await store.timers.claimDue(at(3), "p2", lease(4), 10);
        expect(again.map((timer) => timer.id)).toEqual([first?.id]);
        await store.timers.complete(again[0]?.id ?? -1, "p2");
        expect(await store.timers.claimDue(at(60), "p3", lease(61), 10)).toEqual([]);
      });

      it("retryLater releases the claim until the next attempt time and keeps the error", async () => {
        await store.timers.schedule({ key: "k1", kind: "k", dueAt: at(1), payload: { x: 1 } });
        const [timer] = await store.timers.claimDue(at(1), "p1", lease(5), 10);
        await store.timers.retryLater(timer?.id ?? -1, "p1", at(3), "ARM said 503");
        expect(await store.timers.claimDue(at(2), "p2", lease(4), 10)).toEqual([]);
        const [retried] = await store.timers.claimDue(at(3), "p2", lease(4), 10);
        expect(retried).toMatchObject({ key: "k1", dueAt: at(3), attempts: 2, payload: { x: 1 } });
        const rows = await fixture.sql.query<{ last_error: string }>(
          "SELECT last_error FROM timers WHERE key = $1",
          ["k1"],
        );
        expect(rows[0]?.last_error).toBe("ARM said 503");
        // Someone who no longer holds the claim cannot push it around.
        await store.timers.retryLater(retried?.id ?? -1, "p1", at(100), "late");
        await store.timers.complete(retried?.id ?? -1, "p2");
        expect(await store.timers.claimDue(at(200), "p3", lease(201), 10)).toEqual([]);
      });

      it("cancel → a pending timer never fires; cancelling an unknown key is fine", async () => {
        await store.timers.schedule({ key: "k1", kind: "k", dueAt: at(1), payload: {} });
        await store.timers.cancel("k1");
        await store.timers.cancel("nope");
        expect(await store.timers.claimDue(at(10), "p1", lease(11), 10)).toEqual([]);
      });

      it("scheduling the same key again moves the one timer; a fired or cancelled one is re-armed", async () => {
        await store.timers.schedule({ key: "expiry:R-1", kind: "expiry", dueAt: at(10), payload: { v: 1 } });
        await store.timers.schedule({ key: "expiry:R-1", kind: "expiry", dueAt: at(30), payload: { v: 2 } });
        expect(await store.timers.claimDue(at(10), "p1", lease(11), 10)).toEqual([]);
        const [moved] = await store.timers.claimDue(at(30), "p1", lease(31), 10);
        expect(moved).toMatchObject({ key: "expiry:R-1", dueAt: at(30), payload: { v: 2 }, attempts: 1 });
        const count = await fixture.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM timers");
        expect(count[0]?.n).toBe(1);

        await store.timers.complete(moved?.id ?? -1, "p1");
        await store.timers.schedule({ key: "expiry:R-1", kind: "expiry", dueAt: at(50), payload: { v: 3 } });
        const [rearmed] = await store.timers.claimDue(at(50), "p1", lease(51), 10);
        expect(rearmed).toMatchObject({ dueAt: at(50), payload: { v: 3 }, attempts: 1 });

        await store.timers.schedule({ key: "expiry:R-1", kind: "expiry", dueAt: at(70), payload: { v: 4 } });
        await store.timers.cancel("expiry:R-1");
        expect(await store.timers.claimDue(at(80), "p1", lease(81), 10)).toEqual([]);
      });

      it("cancel leaves a timer under a live lease to its holder; once the lease lapses it fires again", async () => {
        // A handler that cancels its own kind (a time-out cancels the undecided timers) and dies
        // before completing must still be retried, or its notices are lost.
        await store.timers.schedule({ key: "k1", kind: "k", dueAt: at(-1), payload: {} });
        const [held] = await store.timers.claimDue(at(-1), "p1", lease(5), 10);
        await store.timers.cancel("k1");
        expect(await store.timers.claimDue(at(6), "p2", lease(7), 10)).toMatchObject([
          { key: "k1", attempts: 2 },
        ]);
        await store.timers.complete(held?.id ?? -1, "p1");
        await store.timers.schedule({ key: "k2", kind: "k", dueAt: at(-1), payload: {} });
        const [done] = await store.timers.claimDue(at(-1), "p1", lease(5), 10);
        await store.timers.cancel("k2");
        await store.timers.complete(done?.id ?? -1, "p1");
        const rows = await fixture.sql.query<{ key: string; state: string }>(
          "SELECT key, state FROM timers ORDER BY key",
        );
        expect(rows).toEqual([
          { key: "k1", state: "pending" },
          { key: "k2", state: "done" },
        ]);
      });

      it("extendLease keeps a claim from being taken while its handler runs; only the holder extends", async () => {
        await store.timers.schedule({ key: "k1", kind: "k", dueAt: at(1), payload: {} });
        const [held] = await store.timers.claimDue(at(1), "p1", lease(2), 10);
        await store.timers.extendLease([held?.id ?? -1], "p2", lease(100));
        await store.timers.extendLease([held?.id ?? -1], "p1", lease(10));
        expect(await store.timers.claimDue(at(5), "p2", lease(6), 10)).toEqual([]);
        expect(await store.timers.claimDue(at(11), "p2", lease(12), 10)).toHaveLength(1);
      });

      it("rescheduling a claimed timer drops the lease: the old holder cannot complete it", async () => {
        await store.timers.schedule({ key: "k1", kind: "k", dueAt: at(1), payload: {} });
        const [held] = await store.timers.claimDue(at(1), "p1", lease(10), 10);
        await store.timers.schedule({ key: "k1", kind: "k", dueAt: at(5), payload: {} });
        await store.timers.complete(held?.id ?? -1, "p1");
        expect(await store.timers.claimDue(at(5), "p2", lease(6), 10)).toHaveLength(1);
      });
    });

    describe("inbox", () => {
      it("firstSeen → true the first time, false afterwards", async () => {
        expect(await store.inbox.firstSeen("activity-1", at(0))).toBe(true);
        expect(await store.inbox.firstSeen("activity-1", at(1))).toBe(false);
        expect(await store.inbox.firstSeen("activity-2", at(1))).toBe(true);
      });

      it("the same activity delivered to two processes at once → exactly one first", async () => {
        const peer = await fixture.openPeer();
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? store : peer).inbox.firstSeen("dup", at(0))),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
      });
    });

    describe("source links", () => {
      const link = { tokenHash: "hash-1", requestId: "R-1", userId: "user-1", expiresAt: at(600) };

      it("first claim before expiry → the request and user; second → used", async () => {
        await store.sourceLinks.create(link);
        expect(await store.sourceLinks.peek("hash-1")).toEqual(link);
        expect(await store.sourceLinks.peek("hash-2")).toBeUndefined();
        expect(await store.sourceLinks.claim("hash-1", at(10), "203.0.113.7")).toEqual({
          ok: true,
          requestId: "R-1",
          userId: "user-1",
        });
        expect(await store.sourceLinks.claim("hash-1", at(11), "198.51.100.9")).toEqual({
          ok: false,
          reason: "used",
        });
      });

      it("peek after use shows when it was used", async () => {
        await store.sourceLinks.create(link);
        await store.sourceLinks.claim("hash-1", at(10), "203.0.113.7");
        expect(await store.sourceLinks.peek("hash-1")).toEqual({ ...link, usedAt: at(10) });
      });

      it("after expiry → expired; never seen → unknown", async () => {
        await store.sourceLinks.create(link);
        expect(await store.sourceLinks.claim("hash-1", at(600), "203.0.113.7")).toEqual({
          ok: false,
          reason: "expired",
        });
        expect(await store.sourceLinks.claim("nope", at(1), "203.0.113.7")).toEqual({
          ok: false,
          reason: "unknown",
        });
      });

      it("claimed from two processes at once → exactly one wins", async () => {
        await store.sourceLinks.create(link);
        const peer = await fixture.openPeer();
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            (i % 2 === 0 ? store : peer).sourceLinks.claim("hash-1", at(1), `203.0.113.${i}`),
          ),
        );
        expect(results.filter((result) => result.ok)).toHaveLength(1);
      });
    });

    describe("lifecycle", () => {
      it("migrations are idempotent: migrating again applies nothing", async () => {
        await fixture.openPeer();
        expect(await migrate(fixture.sql, { schema: fixture.schema })).toEqual([]);
        const rows = await fixture.sql.query<{ version: number }>("SELECT version FROM schema_migrations");
        expect(rows.map((row) => row.version)).toEqual(migrations.map((migration) => migration.version));
      });

      it("ping answers", async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });
  });
}

// ------------------------------------------------------------------ PGlite (in memory)

/** One in-memory PGlite per file (it takes seconds to start); each test gets its own schema in it. */
let sharedPglite: Promise<PGlite> | undefined;
afterAll(async () => {
  if (sharedPglite !== undefined) await (await sharedPglite).close();
});

const makePgliteStore: MakeStore = async (clock) => {
  sharedPglite ??= PGlite.create();
  const db = await sharedPglite;
  const schema = randomSchema();
  const sql = await pgliteClient(db, { schema, ownsDb: false });
  await migrate(sql, { schema });
  const store = createStore(sql, { clock });
  return {
    store,
    sql,
    schema,
    async openPeer() {
      await migrate(sql, { schema });
      return createStore(sql, { clock });
    },
    async dispose() {
      await db.exec(`DROP SCHEMA "${schema}" CASCADE`);
    },
  };
};

describeStoreContract("store contract on PGlite (in memory)", makePgliteStore);

describe("store on PGlite in a data directory", () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "portcullis-pglite-"));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("keeps requests, audit, timers and the id sequence across a reopen; the reopen migrates nothing", async () => {
    const first = await openStore({ dataDir });
    const id = await first.requests.nextRequestId();
    await first.requests.insert({
      id,
      requesterId: "user-a",
      state: "pending",
      createdAt: t0,
      data: { vm: "web-01" },
    });
    await first.audit.append({
      at: t0,
      type: "request.created",
      actorId: "user-a",
      requestId: id,
      payload: { id },
    });
    await first.timers.schedule({ key: `expiry:${id}`, kind: "expiry", dueAt: at(5), payload: {} });
    await first.inbox.firstSeen("activity-1", t0);
    await first.close();

    const sql = await openPglite({ dataDir });
    expect(await migrate(sql)).toEqual([]);
    await sql.close();

    const second = await openStore({ dataDir });
    try {
      expect((await second.requests.get(id))?.data).toEqual({ vm: "web-01" });
      expect(await second.audit.list({ requestId: id })).toHaveLength(1);
      expect(await second.timers.claimDue(at(5), "p1", at(6), 10)).toHaveLength(1);
      expect(await second.inbox.firstSeen("activity-1", t0)).toBe(false);
      expect(await second.requests.nextRequestId()).not.toBe(id);
    } finally {
      await second.close();
    }
  });
});

// ------------------------------------------------------------------ PostgreSQL

const postgresUrl =
  process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const startHint =
  "Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start " +
  "(or point TEST_DATABASE_URL at a server, or set PORTCULLIS_SKIP_POSTGRES=1 to skip these tests).";

/** Where the URL carries a password, the message must not. */
function redacted(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
}

async function withAdmin<T>(fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const pool = new pg.Pool({ connectionString: postgresUrl, max: 1, connectionTimeoutMillis: 5_000 });
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

const makePostgresStore: MakeStore = async (clock) => {
  const schema = randomSchema();
  const sql = postgresClient({ databaseUrl: postgresUrl, schema });
  await migrate(sql, { schema });
  const store = createStore(sql, { clock });
  const peers: PortcullisStore[] = [];
  return {
    store,
    sql,
    schema,
    async openPeer() {
      const peer = await openStore({ databaseUrl: postgresUrl, schema, clock });
      peers.push(peer);
      return peer;
    },
    async dispose() {
      await Promise.all(peers.map((peer) => peer.close()));
      await store.close();
      await withAdmin((pool) => pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
    },
  };
};

if (process.env.PORTCULLIS_SKIP_POSTGRES === "1") {
  describe.skip("store contract on PostgreSQL — SKIPPED because PORTCULLIS_SKIP_POSTGRES=1", () => {
    it("needs a PostgreSQL server", () => {});
  });
} else {
  describe(`store on PostgreSQL (${redacted(postgresUrl)})`, () => {
    beforeAll(async () => {
      try {
        await withAdmin((pool) => pool.query("SELECT 1"));
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`PostgreSQL at ${redacted(postgresUrl)} is unreachable (${reason}). ${startHint}`);
      }
    });

    describeStoreContract("store contract on PostgreSQL", makePostgresStore);

    it("two processes opening a fresh schema at once both succeed; migrations run once", async () => {
      const schema = randomSchema();
      try {
        const stores = await Promise.all(
          Array.from({ length: 4 }, () => openStore({ databaseUrl: postgresUrl, schema })),
        );
        await Promise.all(stores.map((s) => s.close()));
        const rows = await withAdmin((pool) =>
          pool.query<{ version: number }>(`SELECT version FROM "${schema}".schema_migrations`),
        );
        expect(rows.rows.map((row) => row.version)).toEqual(migrations.map((migration) => migration.version));
      } finally {
        await withAdmin((pool) => pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
      }
    });
  });
}
