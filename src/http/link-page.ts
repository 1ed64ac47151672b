import type { LinkPage } from "../app/source-link.ts";

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

/** The small page the one-time link shows. Everything interpolated is escaped. */
export function linkPageHtml(page: LinkPage): string {
  const address = page.address ? `<p class="address">${escapeHtml(page.address)}</p>` : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Portcullis — ${escapeHtml(page.title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}.address{font:600 1.6rem ui-monospace,monospace}</style></head>
<body><h1>${escapeHtml(page.title)}</h1>${address}<p>${escapeHtml(page.message)}</p></body></html>
`;
}
