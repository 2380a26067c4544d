/**
 * Tenant isolation over REST, enumerated from the served OpenAPI document: every operation, called
 * as tenant B (an API key of B with `manage`, and B's owner by session) with organisation A's ids
 * from the shared isolation cases, fails with 403 or 404 and changes nothing. An operation without
 * a case in tests/isolation-cases.ts fails the suite.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { createTenant, databaseDigest, type Tenant } from "../helpers";
import { documentOperations, idsOf, ISOLATION_CASES, restRequest, type DocOperation, type Input } from "../isolation-cases";
import { call, issueKey, startRestServer, type RestAnswer, type RestServer } from "../rest-fixtures";

const server: RestServer = await startRestServer();
const served = await fetch(`${server.url}/openapi.json`);
const operations = documentOperations(await served.json());

let a: Tenant;
let b: Tenant;
let bKey: string;
let aKey: string;
type Auth = NonNullable<Parameters<typeof call>[3]>["auth"];
let callers: { label: string; auth: Auth }[];

beforeAll(async () => {
  a = await createTenant("rest-isolation-a");
  b = await createTenant("rest-isolation-b");
  aKey = (await issueKey(a.org.id, a.ownerId, ["manage"], "A's program")).key;
  bKey = (await issueKey(b.org.id, b.ownerId, ["manage"], "B's program")).key;
  callers = [
    { label: "B's manage key", auth: bKey },
    { label: "B's owner by session", auth: { session: b.ownerId } },
  ];
});
afterAll(() => server.close());

const send = (op: DocOperation, input: Input | undefined, auth: Auth) => {
  const request = restRequest(op, input);
  return call(server, op.method, request.path, { auth, body: request.body });
};

/** A refusal in the error shape, with the status expected and nothing of A's in it. */
function expectRefused(answer: RestAnswer, statuses: number[], what: string) {
  expect(statuses, `${what}: ${answer.status} ${JSON.stringify(answer.body)}`).toContain(answer.status);
  expect(answer.body?.error, what).toMatchObject({ type: expect.any(String), code: expect.any(String), message: expect.any(String), request_id: expect.any(String) });
  const text = JSON.stringify(answer.body);
  for (const id of idsOf(a)) expect(text, what).not.toContain(id);
}

describe("tenant isolation over REST", () => {
  it("is enumerated from the served document, which has operations of every kind", () => {
    expect(served.status).toBe(200);
    expect(operations.length).toBeGreaterThan(30);
    expect(new Set(operations.map((o) => o.method))).toEqual(new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]));
  });

  it("has a case for every operation of the document", () => {
    expect(operations.filter((o) => !(o.procedure in ISOLATION_CASES)).map((o) => `${o.method} ${o.path} (${o.operationId})`), "operations without an isolation case").toEqual([]);
  });

  for (const op of operations) {
    const c = ISOLATION_CASES[op.procedure];
    const name = `${op.method} ${op.path} (${op.operationId})`;
    if (!c) continue;

    if (c.scope === "org") {
      it(`${name}: B with A's organisation is refused, and nothing changes`, async () => {
        const before = await databaseDigest();
        for (const { label, auth } of callers) expectRefused(await send(op, { orgId: a.org.id, ...c.input(a) }, auth), [403, 404], label);
        // By slug too: the path takes either.
        expectRefused(await send(op, { orgId: a.org.slug, ...c.input(a) }, bKey), [403, 404], "B's key, A's slug");
        expect(await databaseDigest()).toBe(before);
      });
      if (c.foreignIds) {
        it(`${name}: B in its own organisation with A's ${c.foreignIds.join(", ")} gets 404, and nothing changes`, async () => {
          const before = await databaseDigest();
          for (const { label, auth } of callers) expectRefused(await send(op, { orgId: b.org.id, ...c.input(a) }, auth), [404], label);
          expect(await databaseDigest()).toBe(before);
        });
      }
    } else if (c.scope === "admin") {
      it(`${name}: B (not a platform admin) is refused, and nothing changes`, async () => {
        const before = await databaseDigest();
        for (const { label, auth } of callers) {
          const answer = await send(op, c.input?.(a), auth);
          expectRefused(answer, [403], label);
          expect(answer.body.error.code, label).toBe(typeof auth === "string" ? "person_only" : "platform_admin_only");
        }
        expect(await databaseDigest()).toBe(before);
      });
    } else if (c.scope === "self") {
      it(`${name}: B's key is refused; B's session acts on B's own account only`, async () => {
        const before = await databaseDigest();
        const byKey = await send(op, c.input(a), bKey);
        expectRefused(byKey, [403], "B's key");
        expect(byKey.body.error.code).toBe("person_only");
        expect(await databaseDigest()).toBe(before);

        const bySession = await send(op, c.input(a), { session: b.ownerId });
        if (c.expect === "NOT_FOUND") {
          expectRefused(bySession, [404], "B's session");
          expect(await databaseDigest()).toBe(before);
        } else {
          expect(bySession.status, JSON.stringify(bySession.body)).toBe(200);
          const text = JSON.stringify(bySession.body);
          for (const id of idsOf(a)) expect(text).not.toContain(id);
          expect(await db.membership.count({ where: { orgId: a.org.id, userId: b.ownerId } })).toBe(0);
        }
      });
    } else if (c.scope === "platform-public") {
      it(`${name}: the same platform data for A and B, none of A's rows`, async () => {
        const asA = await send(op, undefined, { session: a.ownerId });
        const asB = await send(op, undefined, { session: b.ownerId });
        expect(asA.status).toBe(200);
        expect(asB.body).toEqual(asA.body);
        for (const id of idsOf(a)) expect(JSON.stringify(asB.body)).not.toContain(id);
        // Keys get the same answer for both organisations, whatever it is.
        const keyA = await send(op, undefined, aKey);
        const keyB = await send(op, undefined, bKey);
        const seen = (x: RestAnswer) => [x.status, x.status === 200 ? x.body : x.body.error.code];
        expect(seen(keyB)).toEqual(seen(keyA));
      });
    } else {
      it(`${name}: an anonymous caller, or B's key, cannot reach an existing tenant (an existing email is refused), and nothing changes`, async () => {
        const owner = await db.user.findUniqueOrThrow({ where: { id: a.ownerId } });
        const input = { name: "X", email: owner.email, password: "a long enough password", organizationName: "Hijack", token: `inv_${"A".repeat(43)}` };
        const before = await databaseDigest();
        for (const auth of [undefined, bKey]) {
          const answer = await send(op, input, auth);
          expect([404, 409], `${String(auth)}: ${answer.status} ${JSON.stringify(answer.body)}`).toContain(answer.status);
          expect(answer.body.error.code).toEqual(expect.any(String));
        }
        expect(await databaseDigest()).toBe(before);
      });
    }
  }
});
