/**
 * A firewall-fronted VM (issue 11, items 2 and 8): the policy names the firewall's public IP, the
 * firewall port comes back on the initiate's request ports (`mappedPort`), is kept with the grant,
 * and the notice and the card tell the user to connect to firewall IP : mapped port.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as decideUseCase from "../../src/app/decide.ts";
import { requestAccess } from "../../src/app/request-access.ts";
import type { RequestRecord } from "../../src/app/request-record.ts";
import { approvalCard } from "../../src/chat/cards.ts";
import { bob, type Harness, requestCommand, sam, startHarness } from "../support/app-harness.ts";
import { visibleText } from "../support/card-inspection.ts";

let h: Harness;

beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

describe("a firewall-fronted VM (sftp-01 behind afw-weu)", () => {
  it("the grant keeps the mapped port Azure reported, and the notice and card connect to firewall IP:mapped port", async () => {
    const asked = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh sftp-01 from 203.0.113.7 for 1h because INC-5"),
    );
    const id = asked.requestId ?? "";
    expect((await decideUseCase.decide(h.app, bob, id, "approve")).outcome).toBe("decided");
    await h.settle();
    const record = (await h.store.requests.get<RequestRecord>(id))?.data;
    expect(record?.request.state).toBe("active");
    expect(record?.request.grant?.mappedPorts).toEqual([
      { vmId: expect.stringMatching(/\/sftp-01$/), port: 22, mappedPort: 50022 },
    ]);

    const notice = h.notifier.textsTo("sam@contoso.com").find((text) => text.includes(`${id} is open for`));
    expect(notice).toContain("`ssh -p 50022 203.0.113.10`");
    expect(notice).not.toContain("`ssh 203.0.113.10`");

    // The approvers' card, replaced once the grant is recorded, shows the same connect point.
    const card = record
      ? visibleText(approvalCard(record.request, { maxDurationMs: 3_600_000, riskFlags: [] }))
      : "";
    expect(card).toContain("Port 22 via firewall 203.0.113.10:50022");
  });
});
