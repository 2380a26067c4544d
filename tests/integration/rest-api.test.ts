/**
 * The REST API over real HTTP: the document, authentication by key and by session (with the
 * Origin rule), scopes, the error shape, idempotency, paging, request ids, suspended organisations.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { call, issueKey, startRestServer, type RestServer } from "../rest-fixtures";
import { createTenant, listProcedures, unique, type Tenant } from "../helpers";
import { openApiDocument } from "@/server/rest/openapi";

let server: RestServer;
let a: Tenant;
let b: Tenant;

beforeAll(async () => {
  server = await startRestServer();
  a = await createTenant("rest-a");
  b = await createTenant("rest-b");
});
afterAll(() => server.close());

const errorShape = (body: unknown) =>
  expect(body).toEqual({ error: { type: expect.any(String), code: expect.any(String), message: expect.any(String), param: expect.toBeOneOf([null, expect.any(String)]), request_id: expect.any(String) } });

describe("the OpenAPI document", () => {
  it("is served at /api/v1/openapi.json and describes every procedure of the router, with responses, errors and security", async () => {
    const response = await fetch(`${server.url}/openapi.json`);
    expect(response.status).toBe(200);
    const doc = await response.json();
    expect(doc.openapi).toBe("3.1.0");
    const operations = Object.entries(doc.paths as Record<string, Record<string, { operationId: string; responses: Record<string, unknown>; security?: unknown[] }>>).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({ path, method, ...op })),
    );
    const ids = new Set(operations.map((o) => o.operationId));
    const missing = listProcedures().filter((p) => !ids.has(p.path.replace(/\./g, "-")));
    expect(missing.map((p) => p.path)).toEqual([]);
    for (const op of operations) {
      expect(op.responses["200"], `${op.method} ${op.path}`).toBeDefined();
      expect(op.responses["400"], `${op.method} ${op.path}`).toMatchObject({ content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });
      expect(op.responses["500"], `${op.method} ${op.path}`).toBeDefined();
    }
    expect(doc.components.securitySchemes).toMatchObject({ apiKey: { type: "http", scheme: "bearer" }, session: { type: "apiKey", in: "cookie" } });
    expect(operations.filter((o) => o.method === "post").every((o) => JSON.stringify(o).includes("Idempotency-Key"))).toBe(true);
  });
});

describe("authentication and scopes", () => {
  it("refuses a call with no credentials, a malformed header, an unknown, a revoked or an expired key with 401 in the error shape", async () => {
    const none = await call(server, "GET", `/orgs/${a.org.slug}/deployments`);
    expect(none.status).toBe(401);
    errorShape(none.body);
    expect(none.body.error).toMatchObject({ type: "authentication_error", code: "unauthenticated" });

    expect((await call(server, "GET", `/orgs/${a.org.slug}/deployments`, { headers: { authorization: "Basic abc" } })).body.error.code).toBe("invalid_authorization");
    expect((await call(server, "GET", `/orgs/${a.org.slug}/deployments`, { auth: "enc_000000000000_" + "x".repeat(43) })).body.error.code).toBe("invalid_api_key");

    const revoked = await issueKey(a.org.id, a.ownerId, ["read"]);
    await db.apiKey.update({ where: { id: revoked.id }, data: { revokedAt: new Date() } });
    const r = await call(server, "GET", `/orgs/${a.org.slug}/deployments`, { auth: revoked.key });
    expect([r.status, r.body.error.code]).toEqual([401, "api_key_revoked"]);

    const expired = await issueKey(a.org.id, a.ownerId, ["read"]);
    await db.apiKey.update({ where: { id: expired.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect((await call(server, "GET", `/orgs/${a.org.slug}/deployments`, { auth: expired.key })).body.error.code).toBe("api_key_expired");
  });

  it("opens GET to read keys, changes to manage keys only, and nothing to inference keys", async () => {
    const inference = await issueKey(a.org.id, a.ownerId, ["inference"]);
    const read = await issueKey(a.org.id, a.ownerId, ["read"]);
    const manage = await issueKey(a.org.id, a.ownerId, ["manage"]);
    const list = (key: string) => call(server, "GET", `/orgs/${a.org.slug}/api-keys`, { auth: key });
    const rename = (key: string) => call(server, "PATCH", `/orgs/${a.org.id}/api-keys/${a.apiKey.id}`, { auth: key, body: { name: unique("renamed") } });

    const denied = await list(inference.key);
    expect([denied.status, denied.body.error.type, denied.body.error.code]).toEqual([403, "permission_error", "insufficient_scope"]);
    expect((await list(read.key)).status).toBe(200);
    expect((await rename(read.key)).body.error.code).toBe("insufficient_scope");
    expect((await list(manage.key)).status).toBe(200);
    expect((await rename(manage.key)).status).toBe(200);
  });

  it("accepts the organisation's slug or id in the path, and refuses another organisation's key as if the organisation did not exist", async () => {
    const key = await issueKey(a.org.id, a.ownerId, ["read"]);
    expect((await call(server, "GET", `/orgs/${a.org.slug}/quotas`, { auth: key.key })).status).toBe(200);
    expect((await call(server, "GET", `/orgs/${a.org.id}/quotas`, { auth: key.key })).status).toBe(200);
    const foreign = await call(server, "GET", `/orgs/${b.org.slug}/quotas`, { auth: key.key });
    const nowhere = await call(server, "GET", `/orgs/no-such-org/quotas`, { auth: key.key });
    expect([foreign.status, foreign.body.error.message]).toEqual([nowhere.status, nowhere.body.error.message]);
    expect(foreign.status).toBe(403);
  });

  it("records actions taken with a key in the audit trail as that key", async () => {
    const key = await issueKey(a.org.id, a.ownerId, ["manage"], "audited program");
    const res = await call(server, "POST", `/orgs/${a.org.slug}/api-keys`, { auth: key.key, body: { name: unique("made by a program"), scopes: ["inference"] } });
    expect(res.status).toBe(200);
    const event = await db.auditEvent.findFirstOrThrow({ where: { targetId: res.body.id, action: "api_key.created" } });
    expect(event).toMatchObject({ actorType: "API_KEY", actorId: key.id, actorLabel: `audited program (${key.prefix})` });
    // The accountable person is the key's creator.
    expect((await db.apiKey.findUniqueOrThrow({ where: { id: res.body.id } })).createdById).toBe(a.ownerId);
  });

  it("keeps keys out of platform administration and account operations", async () => {
    const key = await issueKey(a.org.id, a.ownerId, ["manage"]);
    expect((await call(server, "GET", `/admin/regions`, { auth: key.key })).body.error.code).toBe("person_only");
    expect((await call(server, "GET", `/me`, { auth: key.key })).body.error.code).toBe("person_only");
  });
});

describe("sessions and cross-site requests", () => {
  const rename = (auth: { session: string; origin?: string | null }, extra: { headers?: Record<string, string>; rawBody?: string } = {}) =>
    call(server, "PATCH", `/orgs/${a.org.slug}/api-keys/${a.apiKey.id}`, { auth, body: extra.rawBody === undefined ? { name: unique("by session") } : undefined, ...extra });

  it("accepts a change from the console's own origin with a JSON body", async () => {
    expect((await rename({ session: a.ownerId })).status).toBe(200);
  });

  it("refuses a change with the session cookie from another origin, or with no Origin, and changes nothing", async () => {
    const before = await db.apiKey.findUniqueOrThrow({ where: { id: a.apiKey.id } });
    for (const origin of ["https://evil.example", "null", null]) {
      const res = await rename({ session: a.ownerId, origin });
      expect([res.status, res.body.error.code], String(origin)).toEqual([403, "cross_origin_request"]);
    }
    expect((await db.apiKey.findUniqueOrThrow({ where: { id: a.apiKey.id } })).name).toBe(before.name);
  });

  it("refuses a form-encoded or text body from the right origin (what a cross-site form could send)", async () => {
    const res = await rename({ session: a.ownerId }, { headers: { "content-type": "text/plain" }, rawBody: JSON.stringify({ name: "form post" }) });
    expect([res.status, res.body.error.code]).toEqual([415, "unsupported_media_type"]);
  });

  it("lets a session read without an Origin (GET changes nothing)", async () => {
    expect((await call(server, "GET", `/orgs/${a.org.slug}/quotas`, { auth: { session: a.ownerId, origin: null } })).status).toBe(200);
  });
});

describe("errors", () => {
  it("answers an unknown route, bad JSON, a missing and an invalid parameter with precise 4xx errors naming the parameter", async () => {
    const key = await issueKey(a.org.id, a.ownerId, ["manage"]);
    const unknown = await call(server, "GET", `/orgs/${a.org.slug}/nothing-here`, { auth: key.key });
    expect([unknown.status, unknown.body.error.code]).toEqual([404, "unknown_route"]);
    const badJson = await call(server, "POST", `/orgs/${a.org.slug}/api-keys`, { auth: key.key, rawBody: "{not json", headers: { "content-type": "application/json" } });
    expect([badJson.status, badJson.body.error.code]).toEqual([400, "invalid_json"]);
    const missing = await call(server, "POST", `/orgs/${a.org.slug}/api-keys`, { auth: key.key, body: { scopes: ["read"] } });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({ type: "invalid_request_error", code: "parameter_missing", param: "name" });
    const invalid = await call(server, "POST", `/orgs/${a.org.slug}/api-keys`, { auth: key.key, body: { name: "x", scopes: ["root"] } });
    expect(invalid.body.error).toMatchObject({ code: "parameter_invalid", param: "scopes.0", message: expect.stringContaining("inference, read or manage") });
    const notFound = await call(server, "GET", `/orgs/${a.org.slug}/deployments/does-not-exist`, { auth: key.key });
    expect([notFound.status, notFound.body.error.code]).toEqual([404, "not_found"]);
  });

  it("refuses a body over 1 MiB, declared or streamed without a length, with a 413", async () => {
    const key = await issueKey(a.org.id, a.ownerId, ["manage"]);
    const big = JSON.stringify({ name: "x".repeat(2 * 1024 * 1024) });
    const declared = await call(server, "PATCH", `/orgs/${a.org.slug}/api-keys/${a.apiKey.id}`, { auth: key.key, rawBody: big, headers: { "content-type": "application/json" } });
    expect([declared.status, declared.body.error.code]).toEqual([413, "payload_too_large"]);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 32; i++) controller.enqueue(new TextEncoder().encode("x".repeat(64 * 1024)));
        controller.close();
      },
    });
    const chunked = await fetch(`${server.url}/orgs/${a.org.slug}/api-keys/${a.apiKey.id}`, { method: "PATCH", headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json" }, body: stream, duplex: "half" } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  it("refuses a body nested 100,000 levels deep with a 400, and keeps serving", async () => {
    const key = await issueKey(a.org.id, a.ownerId, ["manage"]);
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    const res = await call(server, "PATCH", `/orgs/${a.org.slug}/api-keys/${a.apiKey.id}`, { auth: key.key, rawBody: `{"name":${deep}}`, headers: { "content-type": "application/json" } });
    expect([res.status, res.body.error.code]).toEqual([400, "parameter_invalid"]);
    expect(res.body.error.message).toMatch(/nested more than 32 levels/);
    expect((await call(server, "GET", `/orgs/${a.org.slug}/quotas`, { auth: key.key })).status).toBe(200);
  });

  it("echoes a well-formed request id and replaces a malformed one", async () => {
    const key = await issueKey(a.org.id, a.ownerId, ["read"]);
    const good = await call(server, "GET", `/orgs/${a.org.slug}/quotas`, { auth: key.key, headers: { "x-request-id": "client-req-42" } });
    expect(good.headers.get("x-request-id")).toBe("client-req-42");
    const bad = await call(server, "GET", `/orgs/${a.org.slug}/nope`, { auth: key.key, headers: { "x-request-id": "evil\tid<script>" } });
    expect(bad.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(bad.body.error.request_id).toBe(bad.headers.get("x-request-id"));
  });
});

describe("Idempotency-Key", () => {
  it("replays the first response for the same key and body, refuses the same key with another body, and never replays a secret", async () => {
    const key = await issueKey(a.org.id, a.ownerId, ["manage"]);
    const idem = unique("idem");
    const body = { name: unique("idempotent key"), scopes: ["inference"] };
    const first = await call(server, "POST", `/orgs/${a.org.slug}/api-keys`, { auth: key.key, body, headers: { "idempotency-key": idem } });
    expect(first.status).toBe(200);
    expect(first.body.key).toMatch(/^enc_/);
    const again = await call(server, "POST", `/orgs/${a.org.slug}/api-keys`, { auth: key.key, body, headers: { "idempotency-key": idem } });
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.key).not.toContain("enc_");
    expect(await db.apiKey.count({ where: { orgId: a.org.id, name: body.name } })).toBe(1);
    const stored = await db.idempotencyRecord.findMany({ where: { key: idem } });
    expect(JSON.stringify(stored)).not.toContain(first.body.key);

    const other = await call(server, "POST", `/orgs/${a.org.slug}/api-keys`, { auth: key.key, body: { ...body, name: unique("other") }, headers: { "idempotency-key": idem } });
    expect([other.status, other.body.error.code]).toEqual([409, "idempotency_key_reused"]);
  });

  it("runs concurrent requests with one key once", async () => {
    const key = await issueKey(a.org.id, a.ownerId, ["manage"]);
    const idem = unique("race");
    const body = { name: unique("raced key"), scopes: ["inference"] };
    const answers = await Promise.all(Array.from({ length: 8 }, () => call(server, "POST", `/orgs/${a.org.slug}/api-keys`, { auth: key.key, body, headers: { "idempotency-key": idem } })));
    expect(await db.apiKey.count({ where: { orgId: a.org.id, name: body.name } })).toBe(1);
    for (const answer of answers) expect([200, 409]).toContain(answer.status);
    expect(answers.filter((x) => x.status === 200 && !x.headers.get("idempotent-replayed"))).toHaveLength(1);
  });

  it("is scoped to the caller: another key of the same organisation cannot replay it", async () => {
    const k1 = await issueKey(a.org.id, a.ownerId, ["manage"]);
    const k2 = await issueKey(a.org.id, a.ownerId, ["manage"]);
    const idem = unique("scoped");
    const body = { name: unique("scoped key"), scopes: ["inference"] };
    expect((await call(server, "POST", `/orgs/${a.org.slug}/api-keys`, { auth: k1.key, body, headers: { "idempotency-key": idem } })).status).toBe(200);
    const replay = await call(server, "POST", `/orgs/${a.org.slug}/api-keys`, { auth: k2.key, body, headers: { "idempotency-key": idem } });
    expect([replay.status, replay.body.error.code]).toEqual([409, "idempotency_key_reused"]);
  });
});

describe("paging", () => {
  it("walks a list with cursors: every item once, in order", async () => {
    const t = await createTenant("rest-paging");
    const key = await issueKey(t.org.id, t.ownerId, ["manage"]);
    for (let i = 0; i < 4; i++) await issueKey(t.org.id, t.ownerId, ["inference"], `paged ${i}`);
    const all = (await call(server, "GET", `/orgs/${t.org.slug}/api-keys?limit=200`, { auth: key.key })).body.items.map((k: { id: string }) => k.id);
    expect(all.length).toBe(6);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { body: { items: { id: string }[]; nextCursor: string | null } } = await call(server, "GET", `/orgs/${t.org.slug}/api-keys?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { auth: key.key });
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((k) => k.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all);
    const bad = await call(server, "GET", `/orgs/${t.org.slug}/api-keys?cursor=nope`, { auth: key.key });
    expect([bad.status, bad.body.error.param]).toEqual([400, "cursor"]);
  });
});

describe("a suspended organisation", () => {
  it("can read, and changes nothing", async () => {
    const t = await createTenant("rest-suspended");
    const key = await issueKey(t.org.id, t.ownerId, ["manage"]);
    await db.organization.update({ where: { id: t.org.id }, data: { status: "SUSPENDED", statusReason: "unpaid" } });
    expect((await call(server, "GET", `/orgs/${t.org.slug}/deployments`, { auth: key.key })).status).toBe(200);
    const change = await call(server, "POST", `/orgs/${t.org.slug}/api-keys`, { auth: key.key, body: { name: "while suspended", scopes: ["read"] } });
    expect([change.status, change.body.error.code]).toEqual([403, "organization_suspended"]);
  });
});

describe("the document in process", () => {
  it("is generated once and lists POST operations with an Idempotency-Key header", () => {
    expect(openApiDocument()).toBe(openApiDocument());
  });
});
