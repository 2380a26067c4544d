/**
 * Builds a procedure's Context from an HTTP request, for both transports (tRPC at /api/trpc and
 * REST at /api/v1): who calls (an API key as `Authorization: Bearer enc_…`, else the session
 * cookie), the client address (stamped by the console server, never a client's own header), and a
 * request id (the client's if well-formed, else a new one). Also the CSRF rule for cookie callers.
 */
import { randomUUID } from "node:crypto";
import { getSession } from "../auth";
import { clientIpFromHeaders } from "../client-ip";
import { db } from "../db";
import { env } from "../env";
import { apiKeyPrefix, apiKeySecretAccepted } from "../services/api-key-secrets";
import { apiKeyStatus } from "../services/api-keys";
import { createContext, type ApiKeyPrincipal, type Context } from "./context";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdFrom(req: Request): string {
  const given = req.headers.get("x-request-id");
  return given && REQUEST_ID.test(given) ? given : randomUUID();
}

/** A refusal before any procedure runs (authentication, CSRF); each transport words it its own way. */
export class RequestRefused extends Error {
  constructor(
    readonly status: 401 | 403 | 415,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function verifyApiKey(secret: string): Promise<ApiKeyPrincipal> {
  const invalid = () => new RequestRefused(401, "invalid_api_key", "The API key is not valid: check it, or create a new one in the console");
  const prefix = apiKeyPrefix(secret);
  if (!prefix) throw invalid();
  const row = await db.apiKey.findFirst({
    where: { OR: [{ prefix }, { previousPrefix: prefix }] },
    select: { id: true, orgId: true, name: true, prefix: true, scopes: true, createdById: true, secretHash: true, previousSecretHash: true, previousSecretExpiresAt: true, revokedAt: true, expiresAt: true },
  });
  if (!row || !apiKeySecretAccepted(secret, row)) throw invalid();
  const status = apiKeyStatus(row);
  if (status === "revoked") throw new RequestRefused(401, "api_key_revoked", "This API key has been revoked");
  if (status === "expired") throw new RequestRefused(401, "api_key_expired", "This API key has expired");
  return { id: row.id, orgId: row.orgId, name: row.name, prefix: row.prefix, scopes: row.scopes, createdById: row.createdById };
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The origin the console is served from: NEXTAUTH_URL's, or the one the request was addressed to. */
function consoleOrigin(req: Request): string {
  const configured = env().NEXTAUTH_URL;
  if (configured) return new URL(configured).origin;
  const host = req.headers.get("host");
  const proto = req.headers.get("x-forwarded-proto") === "https" ? "https" : "http";
  return host ? `${proto}://${host}` : new URL(req.url).origin;
}

/**
 * A change made with a session cookie must come from the console's own pages: a browser always
 * sends `Origin` on such requests, and another site cannot forge it; a JSON body cannot be sent
 * cross-site without a CORS preflight, which this server never grants.
 */
function checkSameOrigin(req: Request) {
  if (!UNSAFE.has(req.method)) return;
  const origin = req.headers.get("origin");
  if (!origin || origin !== consoleOrigin(req)) {
    throw new RequestRefused(403, "cross_origin_request", "Changes made with a session must come from the console itself (the Origin header does not match); programs use an API key");
  }
  const type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  const hasBody = req.headers.get("content-length") !== "0" && (req.headers.has("content-length") || req.headers.has("transfer-encoding"));
  if (hasBody && type !== "application/json") {
    throw new RequestRefused(415, "unsupported_media_type", "Send the request body as JSON (Content-Type: application/json)");
  }
}

/** Who the session cookie names: next-auth's check, or a stand-in where next-auth cannot run (the REST tests' server). */
export type SessionResolver = (req: Request) => Promise<string | null>;

const hasSessionCookie = (req: Request) => /(?:^|;\s*)(?:__Secure-)?next-auth\.session-token(?:\.\d+)?=/.test(req.headers.get("cookie") ?? "");

export const nextAuthSession: SessionResolver = async (req) => {
  if (!hasSessionCookie(req)) return null;
  const session = await getSession();
  return session?.user?.id ?? null;
};

export async function contextFromRequest(req: Request, requestId: string, resolveSession: SessionResolver = nextAuthSession): Promise<Context> {
  const ip = clientIpFromHeaders(req.headers);
  const authorization = req.headers.get("authorization");
  if (authorization) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!match) throw new RequestRefused(401, "invalid_authorization", "Send the API key as Authorization: Bearer enc_…");
    return createContext({ userId: null, apiKey: await verifyApiKey(match[1]!), ip, requestId });
  }
  const userId = await resolveSession(req);
  if (userId) checkSameOrigin(req);
  return createContext({ userId, ip, requestId });
}
