/**
 * REST test parts: a real HTTP server on loopback serving /api/v1 through the product's own
 * handler (`handleRestRequest`, the same function the Next.js route exports), and API keys.
 * next-auth's cookie check needs a Next.js request scope, so here a session is named by the
 * `x-test-session-user` header instead (a stand-in for the cookie, present only in this server);
 * the Origin rule for sessions applies unchanged. The e2e suite drives the real cookie path.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { handleRestRequest } from "@/server/rest/handler";
import { openApiDocument } from "@/server/rest/openapi";
import { createApiKey } from "@/server/services/api-keys";
import { userActor, createContext } from "@/server/api/context";
import { db } from "@/server/db";

export const TEST_SESSION_HEADER = "x-test-session-user";

export interface RestServer {
  url: string;
  origin: string;
  close(): Promise<void>;
}

export async function startRestServer(): Promise<RestServer> {
  const server = http.createServer(async (req, res) => {
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const origin = `http://${req.headers.host}`;
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
      const body = chunks.length ? Buffer.concat(chunks) : undefined;
      const request = new Request(origin + req.url, { method: req.method, headers, body: req.method === "GET" || req.method === "HEAD" ? undefined : body });
      const response =
        req.url === "/api/v1/openapi.json"
          ? Response.json(openApiDocument())
          : await handleRestRequest(request, { resolveSession: async (r) => r.headers.get(TEST_SESSION_HEADER) });
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
    } catch (error) {
      res.writeHead(599).end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return { url: `${origin}/api/v1`, origin, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** An API key of `orgId` created through the service, as the given member. */
export async function issueKey(orgId: string, userId: string, scopes: ("inference" | "read" | "manage")[], name = "rest test key") {
  const user = await db.user.findUniqueOrThrow({ where: { id: userId } });
  const created = await createApiKey(orgId, userActor(createContext({ userId }), user), { name, scopes });
  return { id: created.id, key: created.key, name: created.name, prefix: created.prefix };
}

export interface RestAnswer {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One HTTP call; `auth` is an API key secret, or `{ session: userId, origin? }`. */
export async function call(
  server: RestServer,
  method: string,
  path: string,
  options: { auth?: string | { session: string; origin?: string | null }; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<RestAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (typeof options.auth === "string") headers.authorization = `Bearer ${options.auth}`;
  else if (options.auth) {
    headers[TEST_SESSION_HEADER] = options.auth.session;
    if (options.auth.origin !== null) headers.origin = options.auth.origin ?? server.origin;
  }
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  const response = await fetch(server.url + path, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body: parsed };
}
