/**
 * Chat replies as Markdown text, shared by every channel. Pure functions of the use cases' results.
 */
import { type ChatText, code, joinChat, md, trustedMarkup } from "../app/chat-text.ts";
import type { PolicyApproval, PolicyView } from "../app/fleet.ts";
import { COMMAND_HELP } from "../domain/commands.ts";
import { formatDuration, parseIsoDuration, utcText } from "../domain/duration.ts";
import { howToAddApprovers } from "../domain/rules.ts";
import type { PortRule, VmWithJit } from "../domain/vm.ts";

export function helpText(): string {
  const lines = COMMAND_HELP.map(
    (entry) => `- \`${entry.usage}\` — ${entry.summary}. Example: \`${entry.example}\``,
  );
  return [
    "**Portcullis** opens SSH/RDP ports on Azure VMs just in time, through Defender for Cloud JIT.",
    lines.join("\n"),
    "A VM owner approves on a card; I open the port for your address only, warn you before the end, tell you when it closed, and check that it did.",
  ].join("\n\n");
}

export function vmsText(vms: readonly VmWithJit[]): string {
  if (vms.length === 0)
    return "I can't see any VMs in this subscription. Check the bot's Azure role assignment (`Reader` on VMs and networks).";
  const configured = vms.filter((vm) => vm.jit.kind === "configured");
  const notConfigured = vms.filter((vm) => vm.jit.kind === "not_configured");
  const unsupported = vms.filter((vm) => vm.jit.kind === "unsupported");
  const sections = [`**${vms.length} VMs** I can see:`];
  if (configured.length > 0)
    sections.push(`**JIT configured (${configured.length})**\n${configured.map(configuredLine).join("\n")}`);
  if (notConfigured.length > 0)
    sections.push(
      `**Not configured (${notConfigured.length})**\n${notConfigured.map(reasonLine).join("\n")}`,
    );
  if (unsupported.length > 0)
    sections.push(`**Unsupported (${unsupported.length})**\n${unsupported.map(reasonLine).join("\n")}`);
  sections.push("Type `policy <vm>` for a VM's rules.");
  return sections.join("\n\n");
}

/** Azure's fields (names, tags, a grant's justification, which carries someone's reason) stay literal. */
export function policyText(view: PolicyView, approval: PolicyApproval): ChatText {
  const { vm } = view;
  const header = md`**${vm.ref.name}** — ${vm.ref.resourceGroup}, ${vm.location}, ${vm.osType}, ${vm.powerState}; policy ${code(view.policyName)}`;
  const rules = joinChat(
    view.rules.map((rule) => md`- ${ruleText(rule)}`),
    "\n",
  );
  const open =
    view.openGrants.length === 0
      ? md`No port is open now.`
      : md`**Open now (${view.openGrants.length})**\n${joinChat(
          view.openGrants.map((grant) =>
            "withheld" in grant
              ? md`- port ${grant.number} until ${utcText(grant.endTimeUtc)} (who asked and from where: for the requester, the VM's approvers and the auditors)`
              : md`- port ${grant.number}${grant.mappedPort === undefined ? "" : ` (firewall port ${grant.mappedPort})`} for ${grant.allowedSourceAddressPrefix} until ${utcText(grant.endTimeUtc)}, requested by ${grant.requestor}${grant.justification ? md` — "${grant.justification}"` : ""}`,
          ),
          "\n",
        )}`;
  return joinChat(
    [header, md`**Rules (${view.rules.length})**\n${rules}`, open, approvalText(vm.ref.name, approval)],
    "\n\n",
  );
}

/** Who approves, how many must, whether a reason is needed — each with the tag or rule it comes from. */
export function approvalText(vmName: string, approval: PolicyApproval): ChatText {
  const { facts } = approval;
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;
  const lines: ChatText[] = [
    md`**Approval**: ${plural(facts.requiredApprovals, "approval")} needed (${facts.requiredFrom}); nobody approves their own request.`,
    facts.requireReason
      ? md`A reason is required (${facts.requireReasonFrom}): add \`because …\` to the request.`
      : md`No reason is required (${facts.requireReasonFrom}).`,
  ];
  lines.push(
    approval.approvers.length === 0
      ? md`Nobody is listed to approve: the VM has no \`jit-approvers\` tag and the rules add no approvers.`
      : md`Approvers (${approval.approvers.length}):\n${joinChat(
          approval.approvers.map((each) => md`- ${each.name} — ${each.from.join(", ")}`),
          "\n",
        )}`,
  );
  if (facts.ignoredEntries.length > 0)
    lines.push(
      md`Ignored in the \`jit-approvers\` tag (neither a UPN nor an object id): ${facts.ignoredEntries.join(", ")}.`,
    );
  if (facts.shortfall === "everyone") {
    lines.push(
      md`⚠ ${plural(approval.approvers.length, "approver")} listed, ${plural(facts.requiredApprovals, "approval")} needed: every request for ${vmName} is refused until more approvers are added. ${trustedMarkup(howToAddApprovers([vmName]))}`,
    );
  } else if (facts.shortfall === "approvers") {
    lines.push(
      md`An approver who asks for ${vmName} themselves is refused: only ${facts.requiredApprovals - 1} other${facts.requiredApprovals - 1 === 1 ? "" : "s"} could approve, and ${plural(facts.requiredApprovals, "approval")} ${facts.requiredApprovals === 1 ? "is" : "are"} needed.`,
    );
  }
  return joinChat(lines, "\n");
}

export function ruleText(rule: PortRule): string {
  const max = parseIsoDuration(rule.maxRequestAccessDuration);
  const maxText = max === undefined ? rule.maxRequestAccessDuration : formatDuration(max);
  return `port ${rule.number}, ${protocolText(rule.protocol)}, from ${rule.allowedSourceAddressPrefixes.join(", ")}, max ${maxText}`;
}

function configuredLine(vm: VmWithJit): string {
  const ports = vm.jit.kind === "configured" ? vm.jit.policy.rules.map((rule) => rule.number).join(", ") : "";
  return `- \`${vm.ref.name}\` (${vm.ref.resourceGroup}, ${vm.location}, ${vm.osType}, ${vm.powerState}) — ports ${ports}`;
}

function reasonLine(vm: VmWithJit): string {
  const reason = vm.jit.kind === "configured" ? "" : vm.jit.reason;
  return `- \`${vm.ref.name}\` (${vm.ref.resourceGroup}, ${vm.location}) — ${reason}`;
}

function protocolText(protocol: string): string {
  return protocol === "*" ? "any protocol" : protocol.toUpperCase();
}
