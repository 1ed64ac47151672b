/**
 * A stand-in for the Bot Framework's token signing: an OpenID metadata document and a JWKS on
 * loopback (what https://login.botframework.com/v1/.well-known/openidconfiguration serves), and
 * RS256 tokens shaped like the ones the Bot Connector sends. Signing uses node:crypto only.
 */
import { createHmac, createSign, generateKeyPairSync, type KeyObject } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export function newSigningKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { kid, privateKey, publicKey };
}

export interface FakeOpenId {
  /** The metadata document's URL: what BOT_OPENID_METADATA_URL points at. */
  readonly metadataUrl: string;
  /** How many times the keys were fetched. */
  readonly keyFetches: () => number;
  close(): Promise<void>;
}

/** Publishes the public halves of `keys`, endorsed for msteams as the real JWKS does. */
export async function startFakeOpenId(keys: readonly SigningKey[]): Promise<FakeOpenId> {
  let fetches = 0;
  let base = "";
  const server: Server = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    if (req.url === "/v1/.well-known/openidconfiguration") {
      res.end(JSON.stringify({ issuer: "https://api.botframework.com", jwks_uri: `${base}/v1/keys` }));
      return;
    }
    if (req.url === "/v1/keys") {
      fetches++;
      const jwks = keys.map((key) => {
        const jwk = key.publicKey.export({ format: "jwk" });
        return { kty: "RSA", use: "sig", kid: key.kid, n: jwk.n, e: jwk.e, endorsements: ["msteams"] };
      });
      res.end(JSON.stringify({ keys: jwks }));
      return;
    }
    res.statusCode = 404;
    res.end("{}");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    metadataUrl: `${base}/v1/.well-known/openidconfiguration`,
    keyFetches: () => fetches,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

/** An RS256 JWT with `claims`, signed by `key` under the key id `kid` (default: the key's own). */
export function signToken(
  key: SigningKey,
  claims: Record<string, unknown>,
  options: { readonly kid?: string } = {},
): string {
  const header = base64url({ alg: "RS256", typ: "JWT", kid: options.kid ?? key.kid });
  const payload = base64url(claims);
  const signer = createSign("RSA-SHA256");
  signer.update(`${header}.${payload}`);
  return `${header}.${payload}.${signer.sign(key.privateKey).toString("base64url")}`;
}

/** An `alg: none` JWT with no signature, claiming the key id `kid`. */
export function unsignedToken(claims: Record<string, unknown>, kid: string): string {
  return `${base64url({ alg: "none", typ: "JWT", kid })}.${base64url(claims)}.`;
}

/**
 * Alg confusion: HS256 with the published RSA public key (as the PEM botbuilder builds from the
 * JWKS) for the HMAC secret — a verifier that let the token pick its algorithm would accept it.
 */
export function publicKeyHmacToken(key: SigningKey, claims: Record<string, unknown>): string {
  const secret = key.publicKey.export({ type: "pkcs1", format: "pem" });
  const signed = `${base64url({ alg: "HS256", typ: "JWT", kid: key.kid })}.${base64url(claims)}`;
  return `${signed}.${createHmac("sha256", secret).update(signed).digest("base64url")}`;
}

/** The claims of a Bot Connector → bot token (issuer api.botframework.com, audience = the bot's app id). */
export function channelClaims(appId: string, serviceUrl: string, now = new Date()): Record<string, unknown> {
  const seconds = Math.floor(now.getTime() / 1000);
  return {
    iss: "https://api.botframework.com",
    aud: appId,
    serviceurl: serviceUrl,
    nbf: seconds - 60,
    exp: seconds + 3600,
  };
}
