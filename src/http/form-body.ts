/** A small urlencoded form body, read without restify's parsers (they read up to 1 MB and inflate gzip). */
import type { IncomingMessage } from "node:http";

export type FormBody =
  | { readonly ok: true; readonly fields: URLSearchParams }
  | { readonly ok: false; readonly status: 400 | 413 | 415; readonly reason: string };

export function readFormBody(req: IncomingMessage, maxBytes: number): Promise<FormBody> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded")
    return Promise.resolve({
      ok: false,
      status: 415,
      reason: "expected a form (application/x-www-form-urlencoded)",
    });
  const encoding = req.headers["content-encoding"];
  if (encoding !== undefined && encoding !== "identity")
    return Promise.resolve({ ok: false, status: 415, reason: "a compressed form is not accepted" });
  const tooLarge: FormBody = { ok: false, status: 413, reason: `the form is larger than ${maxBytes} bytes` };
  if (Number(req.headers["content-length"] ?? "0") > maxBytes) return Promise.resolve(tooLarge);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (result: FormBody) => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    // Past the limit the rest is discarded as it arrives (Node's own request timeouts bound it).
    req.on("data", (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > maxBytes) finish(tooLarge);
      else chunks.push(chunk);
    });
    req.on("end", () =>
      finish({ ok: true, fields: new URLSearchParams(Buffer.concat(chunks).toString("utf8")) }),
    );
    req.on("error", () => finish({ ok: false, status: 400, reason: "the form could not be read" }));
    req.on("close", () => finish({ ok: false, status: 400, reason: "the form was cut off" }));
  });
}
