/**
 * The bot identity's own effective permissions at a scope, from ARM's
 * `…/providers/Microsoft.Authorization/permissions` (api-version 2022-04-01), which answers for the
 * caller itself. Used by the doctor to tell whether the identity has more than its role.
 */
import type { TokenCredential } from "@azure/core-auth";
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createPipelineFromOptions,
  createPipelineRequest,
} from "@azure/core-rest-pipeline";
import type { IdentityPermissions, PermissionSet } from "../app/doctor.ts";
import { armAuth } from "./credentials.ts";

const API_VERSION = "2022-04-01";

interface WirePermission {
  readonly actions?: readonly string[];
  readonly notActions?: readonly string[];
}

export function createIdentityPermissions(options: {
  readonly armEndpoint: string;
  readonly credential?: TokenCredential;
  readonly timeoutMs?: number;
}): IdentityPermissions {
  const auth = armAuth(options.armEndpoint, options.credential);
  const pipeline = createPipelineFromOptions({ retryOptions: { maxRetries: 1 } });
  if (!auth.endpoint.loopback) {
    pipeline.addPolicy(
      bearerTokenAuthenticationPolicy({ credential: auth.credential, scopes: [...auth.credentialScopes] }),
    );
  }
  auth.configure({ pipeline });
  const client = createDefaultHttpClient();
  return {
    async atScope(scope: string): Promise<readonly PermissionSet[] | undefined> {
      const sets: PermissionSet[] = [];
      let next: string | undefined =
        `${auth.endpoint.url}${scope}/providers/Microsoft.Authorization/permissions?api-version=${API_VERSION}`;
      while (next) {
        const response = await pipeline.sendRequest(
          client,
          createPipelineRequest({ url: next, method: "GET", timeout: options.timeoutMs ?? 30_000 }),
        );
        // A simulator (or an endpoint without the Authorization provider) has no such path.
        if (response.status === 404) return undefined;
        const body = JSON.parse(response.bodyAsText ?? "{}") as {
          value?: readonly WirePermission[];
          nextLink?: string;
          error?: { code?: string; message?: string };
        };
        if (response.status !== 200) {
          throw new Error(
            `HTTP ${response.status} ${body.error?.code ?? ""} ${body.error?.message ?? ""}`.trim(),
          );
        }
        for (const item of body.value ?? [])
          sets.push({ actions: item.actions ?? [], notActions: item.notActions ?? [] });
        next = body.nextLink;
      }
      return sets;
    },
  };
}
