/**
 * How the ARM clients authenticate.
 *
 * - A loopback `http://` endpoint (a local ARM simulator) gets a static development token from our
 *   own pipeline policy: the SDK's bearerTokenAuthenticationPolicy refuses plain http (and
 *   `allowInsecureConnection` does not lift that), and real credentials must never go there.
 * - Any other endpoint must be https and uses the given credential, or DefaultAzureCredential
 *   created on first use (so a run against the simulator never loads MSAL or probes for identities).
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import {
  bearerTokenAuthenticationPolicyName,
  type Pipeline,
  type PipelinePolicy,
} from "@azure/core-rest-pipeline";

export const DEV_TOKEN = "dev-token";
export const devTokenPolicyName = "portcullisDevTokenPolicy";

export class ArmEndpointError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ArmEndpointError";
  }
}

export interface ArmEndpoint {
  /** Origin without a trailing slash, e.g. "https://management.azure.com". */
  readonly url: string;
  readonly loopback: boolean;
}

const LOOPBACK_HOSTS = new Set(["localhost", "[::1]", "::1"]);

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  if (LOOPBACK_HOSTS.has(host)) return true;
  // The whole 127.0.0.0/8 block is loopback.
  return /^127(?:\.\d{1,3}){3}$/.test(host);
}

/** Validates AZURE_ARM_ENDPOINT-style input; plain http is accepted for loopback hosts only. */
export function parseArmEndpoint(endpoint: string): ArmEndpoint {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (error) {
    throw new ArmEndpointError(
      `The ARM endpoint "${endpoint}" is not a URL. Use e.g. https://management.azure.com, or http://127.0.0.1:<port> for a local simulator.`,
      { cause: error },
    );
  }
  const base = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
  if (url.protocol === "https:") return { url: base, loopback: false };
  if (url.protocol === "http:" && isLoopbackHost(url.hostname)) return { url: base, loopback: true };
  if (url.protocol === "http:") {
    throw new ArmEndpointError(
      `The ARM endpoint "${endpoint}" uses plain http on a non-loopback host. Only https is allowed there; plain http is accepted for 127.0.0.1, localhost and [::1] (a local simulator with a development token).`,
    );
  }
  throw new ArmEndpointError(`The ARM endpoint "${endpoint}" must be an https:// URL.`);
}

/** Sets `authorization: Bearer dev-token` and allows plain http. Only ever installed for a loopback endpoint. */
export function devTokenPolicy(): PipelinePolicy {
  return {
    name: devTokenPolicyName,
    sendRequest(request, next) {
      const url = new URL(request.url);
      if (url.protocol !== "http:" || !isLoopbackHost(url.hostname)) {
        // Defence in depth: a redirect must not carry even the dev token off the machine.
        throw new ArmEndpointError(`Refusing to send the development token to ${url.origin}.`);
      }
      request.headers.set("authorization", `Bearer ${DEV_TOKEN}`);
      // The SDK's http client refuses plain http unless told; checked above that this is loopback.
      request.allowInsecureConnection = true;
      return next(request);
    },
  };
}

/** A credential that never leaves the process: for clients whose bearer policy we remove. */
const devCredential: TokenCredential = {
  getToken: async (): Promise<AccessToken> => ({
    token: DEV_TOKEN,
    expiresOnTimestamp: Date.now() + 60 * 60 * 1000,
  }),
};

/** DefaultAzureCredential, imported and constructed on the first token request. */
export function lazyDefaultAzureCredential(): TokenCredential {
  let inner: Promise<TokenCredential> | undefined;
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      inner ??= import("@azure/identity").then(({ DefaultAzureCredential }) => new DefaultAzureCredential());
      return (await inner).getToken(scopes, options);
    },
  };
}

export interface ArmAuth {
  readonly endpoint: ArmEndpoint;
  /** What to hand to the SDK client's constructor. */
  readonly credential: TokenCredential;
  /** Scopes for the bearer policy (sovereign clouds use their own ARM audience). */
  readonly credentialScopes: readonly string[];
  /** Call once on every client built with `credential`. */
  configure(client: { readonly pipeline: Pipeline }): void;
}

export function armAuth(endpoint: string, credential?: TokenCredential): ArmAuth {
  const parsed = parseArmEndpoint(endpoint);
  const origin = new URL(parsed.url).origin;
  if (parsed.loopback) {
    return {
      endpoint: parsed,
      credential: devCredential,
      credentialScopes: [`${origin}/.default`],
      configure(client) {
        client.pipeline.removePolicy({ name: bearerTokenAuthenticationPolicyName });
        client.pipeline.addPolicy(devTokenPolicy(), { phase: "Sign" });
      },
    };
  }
  return {
    endpoint: parsed,
    credential: credential ?? lazyDefaultAzureCredential(),
    credentialScopes: [`${origin}/.default`],
    configure() {},
  };
}
