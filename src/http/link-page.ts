import type { LinkConfirmation, LinkPage } from "../app/source-link.ts";

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => ESCAPES[character] ?? character);
}

/** Where the confirmation form posts, relative to /ip/<token> so it survives a path prefix at a proxy. */
export const CONFIRM_PATH = "/ip/confirm";

/** The small page the one-time link shows. Everything interpolated is escaped. */
export function linkPageHtml(page: LinkPage): string {
  const address = page.address ? `<p class="address">${escapeHtml(page.address)}</p>` : "";
  const body = page.confirm
    ? confirmationHtml(page.confirm, page.message)
    : `${address}<p>${escapeHtml(page.message)}</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Portcullis — ${escapeHtml(page.title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}.address{font:600 1.6rem ui-monospace,monospace}dt{font-weight:600}dd{margin:0 0 .5rem}
.demo{border-left:4px solid #c80;padding:.25rem .75rem;background:#fff8e6}
button{font:inherit;padding:.5rem 1rem;cursor:pointer}</style></head>
<body><h1>${escapeHtml(page.title)}</h1>${body}</body></html>
`;
}

function confirmationHtml(confirm: LinkConfirmation, message: string): string {
  const who = confirm.requester.upn
    ? `${confirm.requester.name} (${confirm.requester.upn})`
    : confirm.requester.name;
  const targets = confirm.targets
    .map(
      (target) => `${target.vmName}, port${target.ports.length === 1 ? "" : "s"} ${target.ports.join(", ")}`,
    )
    .join("; ");
  const next = confirm.breakGlass
    ? "Confirming opens the port for this address at once (break-glass)."
    : "Confirming sends the request to its approvers with this address.";
  const demo = confirm.demoStandInFor
    ? `<p class="demo"><strong>Local demo only:</strong> this browser reached the bot from ${escapeHtml(confirm.demoStandInFor)}, this machine's own loopback address, which no JIT rule accepts. The bot runs with <code>npm start</code> against its embedded Azure simulator, which stands in for the Internet, so it records the documentation address ${escapeHtml(confirm.address)} as this machine's public address. Nowhere else does Portcullis substitute an address: with a real Azure subscription or a Bot Framework registration, a loopback or private address is refused.</p>`
    : "";
  return `<dl>
<dt>Request</dt><dd>${escapeHtml(confirm.requestId)}${confirm.breakGlass ? " (break-glass)" : ""}: ${escapeHtml(targets)}</dd>
<dt>Asked by</dt><dd>${escapeHtml(who)}</dd>
<dt>Address that will be recorded</dt><dd class="address">${escapeHtml(confirm.address)}</dd>
</dl>
${demo}<p>${escapeHtml(message)} ${escapeHtml(next)} If you are not ${escapeHtml(confirm.requester.name)}, or did not ask for this, close this page.</p>
<form method="post" action="confirm">
<input type="hidden" name="token" value="${escapeHtml(confirm.token)}">
<input type="hidden" name="address" value="${escapeHtml(confirm.address)}">
<button type="submit">Record ${escapeHtml(confirm.address)} for ${escapeHtml(confirm.requestId)}</button>
</form>
<p>The link works once, until ${escapeHtml(confirm.expiresAt.toISOString().slice(0, 16).replace("T", " "))} UTC. Opening it records nothing.</p>`;
}
