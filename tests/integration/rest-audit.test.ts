/**
 * The audit trail over REST, enumerated from the served OpenAPI document: every mutating operation
 * (POST, PUT, PATCH, DELETE), called rightfully with the shared audit cases' inputs, succeeds and
 * leaves its own audit event (found by the request id): made with the organisation's `manage` key
 * where keys may act, recorded as that key; platform administration by a platform admin's session;
 * account operations by the person's session. The chain verifies. An operation without a case
 * in tests/audit-cases.ts fails the suite.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { verifyAuditChain } from "@/server/services/audit";
import { createTenant, createUser, unique, type Tenant } from "../helpers";
import { AUDIT_CASES, personId, type AuditEnv } from "../audit-cases";
import { documentOperations, ISOLATION_CASES, restRequest } from "../isolation-cases";
import { call, issueKey, startRestServer, type RestServer } from "../rest-fixtures";

const server: RestServer = await startRestServer();
const mutations = documentOperations(await (await fetch(`${server.url}/openapi.json`)).json()).filter((o) => o.mutating);

let t: Tenant;
let env: AuditEnv;
let key: Awaited<ReturnType<typeof issueKey>>;

beforeAll(async () => {
  t = await createTenant("rest-audited");
  env = { platformAdminId: (await createUser("platform-admin", { platformAdmin: true })).id };
  key = await issueKey(t.org.id, t.ownerId, ["manage"], "audited program");
});
afterAll(() => server.close());

describe("audit over REST", () => {
  it("is enumerated from the served document, which has mutations of every method", () => {
    expect(new Set(mutations.map((o) => o.method))).toEqual(new Set(["POST", "PUT", "PATCH", "DELETE"]));
  });

  it("has an audit case for every mutating operation of the document", () => {
    expect(mutations.filter((o) => !(o.procedure in AUDIT_CASES) || !(o.procedure in ISOLATION_CASES)).map((o) => `${o.method} ${o.path} (${o.operationId})`)).toEqual([]);
  });

  for (const op of mutations) {
    const prepare = AUDIT_CASES[op.procedure];
    const scope = ISOLATION_CASES[op.procedure]?.scope;
    if (!prepare || !scope) continue;
    // Organisation operations are made by a program; the others need a person (keys never reach them).
    const byKey = scope === "org";

    it(`${op.method} ${op.path} (${op.operationId}) succeeds ${byKey ? "with a manage key and is audited as that key" : "and is audited as the person"}`, async () => {
      const c = await prepare(t, env);
      const userId = byKey ? null : personId(c.as, t, env);
      const requestId = unique("rest-audit");
      const request = restRequest(op, c.input);
      const answer = await call(server, op.method, request.path, {
        auth: byKey ? key.key : userId ? { session: userId } : undefined,
        body: request.body,
        headers: { "x-request-id": requestId },
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);

      const chain = typeof c.chain === "function" ? c.chain(answer.body) : c.chain;
      const events = await db.auditEvent.findMany({ where: { requestId }, orderBy: { seq: "asc" } });
      expect(events.length, "the call's own audit event").toBeGreaterThan(0);
      expect(events.map((e) => e.chain)).toContain(chain);
      for (const event of events) {
        if (byKey) expect(event).toMatchObject({ actorType: "API_KEY", actorId: key.id, actorLabel: `audited program (${key.prefix})` });
        else expect(event.actorType).toBe("USER");
        if (userId) expect(event.actorId).toBe(userId);
      }
      expect(await verifyAuditChain(db, chain)).toMatchObject({ ok: true });
    });
  }
});
