import { randomUUID } from "node:crypto";
import type { Actor } from "../services/audit";

/** An API key presented as `Authorization: Bearer enc_…`, already verified (not revoked, not expired). */
export interface ApiKeyPrincipal {
  id: string;
  orgId: string;
  name: string;
  prefix: string;
  scopes: string[];
  /** The person who created the key: accountable for what it does (e.g. `createdBy` columns). */
  createdById: string;
}

/**
 * What every procedure knows about the request: who calls (a session's user id, or an API key),
 * from where, and the request id. The user is re-read per request.
 */
export interface Context {
  userId: string | null;
  apiKey: ApiKeyPrincipal | null;
  ip: string | null;
  requestId: string;
}

export function createContext(input: { userId: string | null; apiKey?: ApiKeyPrincipal | null; ip?: string | null; requestId?: string }): Context {
  return { userId: input.userId, apiKey: input.apiKey ?? null, ip: input.ip ?? null, requestId: input.requestId ?? randomUUID() };
}

export function userActor(ctx: Context, user: { id: string; email: string }): Actor & { id: string } {
  return { type: "USER", id: user.id, label: user.email, ip: ctx.ip, requestId: ctx.requestId, onBehalfOfUserId: user.id };
}

/** Actions taken with a key are recorded as that key (id, name and prefix), on behalf of its creator. */
export function apiKeyActor(ctx: Context, key: ApiKeyPrincipal): Actor & { id: string } {
  return { type: "API_KEY", id: key.id, label: `${key.name} (${key.prefix})`, ip: ctx.ip, requestId: ctx.requestId, onBehalfOfUserId: key.createdById };
}
