/**
 * Tenant isolation, proven over the router itself: every procedure is listed from `appRouter`,
 * and each must have a case in tests/isolation-cases.ts. A member of organisation B calls it with organisation A's ids;
 * the call must fail with FORBIDDEN or NOT_FOUND and change nothing in the database.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { callerFor, createTenant, createUser, databaseDigest, listProcedures, outcome, unique, type Tenant } from "../helpers";
import { idsOf, ISOLATION_CASES as CASES, type Input } from "../isolation-cases";

const procedures = listProcedures();

function call(caller: ReturnType<typeof callerFor>, path: string, input: Input | undefined) {
  const fn = path.split(".").reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], caller) as (i?: Input) => Promise<unknown>;
  return fn(input);
}

let a: Tenant;
let b: Tenant;
let outsider: ReturnType<typeof callerFor>;

beforeAll(async () => {
  a = await createTenant("isolation-a");
  b = await createTenant("isolation-b");
  outsider = callerFor(b.ownerId);
});

describe("tenant isolation", () => {
  it("has a case for every procedure of the router, and no stale case", () => {
    const paths = procedures.map((p) => p.path).sort();
    expect(paths.filter((p) => !(p in CASES)), "procedures without an isolation case").toEqual([]);
    expect(Object.keys(CASES).filter((p) => !paths.includes(p)), "cases for procedures that no longer exist").toEqual([]);
  });

  for (const { path, type } of procedures) {
    const c = CASES[path];
    if (!c) continue;

    if (c.scope === "org") {
      it(`${path}: B's owner using A's orgId is refused and nothing changes`, async () => {
        const before = await databaseDigest();
        expect(await outcome(() => call(outsider, path, { orgId: a.org.id, ...c.input(a) }))).toBe("FORBIDDEN");
        expect(await databaseDigest()).toBe(before);
      });
      if (c.foreignIds) {
        it(`${path}: B's owner using B's orgId with A's ${c.foreignIds.join(", ")} gets NOT_FOUND and nothing changes`, async () => {
          const before = await databaseDigest();
          expect(await outcome(() => call(outsider, path, { orgId: b.org.id, ...c.input(a) }))).toBe("NOT_FOUND");
          expect(await databaseDigest()).toBe(before);
        });
      }
      // (A query naming one of A's objects is covered by the NOT_FOUND case above.)
      if (type === "query" && !c.foreignIds) {
        it(`${path}: B's own answer contains nothing of A`, async () => {
          const result = JSON.stringify(await call(outsider, path, { orgId: b.org.id, ...c.input(a) }), (_k, v) => (typeof v === "bigint" ? String(v) : v));
          for (const id of idsOf(a)) expect(result).not.toContain(id);
        });
      }
    } else if (c.scope === "admin") {
      it(`${path}: a tenant owner who is not a platform admin is refused`, async () => {
        const before = await databaseDigest();
        expect(await outcome(() => call(outsider, path, c.input?.(a)))).toBe("FORBIDDEN");
        expect(await databaseDigest()).toBe(before);
      });
    } else if (c.scope === "self") {
      it(`${path}: acts only on the caller's own account`, async () => {
        if (c.expect === "NOT_FOUND") {
          const before = await databaseDigest();
          expect(await outcome(() => call(outsider, path, c.input(a)))).toBe("NOT_FOUND");
          expect(await databaseDigest()).toBe(before);
        } else {
          const result = JSON.stringify(await call(outsider, path, c.input(a)));
          for (const id of idsOf(a)) expect(result).not.toContain(id);
          expect(await db.membership.count({ where: { orgId: a.org.id, userId: b.ownerId } })).toBe(0);
        }
      });
    } else if (c.scope === "platform-public") {
      it(`${path}: returns the same platform data to every tenant, none of A's rows`, async () => {
        const asA = JSON.stringify(await call(callerFor(a.ownerId), path, undefined), (_k, v) => (typeof v === "bigint" ? String(v) : v));
        const asB = JSON.stringify(await call(outsider, path, undefined), (_k, v) => (typeof v === "bigint" ? String(v) : v));
        expect(asB).toBe(asA);
        for (const id of idsOf(a)) expect(asB).not.toContain(id);
      });
    } else {
      it(`${path}: an anonymous caller cannot reach an existing tenant (an existing email is refused)`, async () => {
        const owner = await db.user.findUniqueOrThrow({ where: { id: a.ownerId } });
        const before = await databaseDigest();
        const input = { name: "X", email: owner.email, password: "a long enough password", organizationName: "Hijack", token: `inv_${"A".repeat(43)}` };
        expect(await outcome(() => call(callerFor(null), path, input))).toMatch(/^(CONFLICT|NOT_FOUND)$/);
        expect(await databaseDigest()).toBe(before);
      });
    }
  }

  it("refuses anonymous callers on every procedure but sign-up", async () => {
    const anonymous = callerFor(null);
    for (const { path } of procedures) {
      if (CASES[path]?.scope === "anonymous") continue;
      const input = (() => {
        const c = CASES[path];
        return c && "input" in c && c.input ? { orgId: a.org.id, ...c.input(a) } : { orgId: a.org.id };
      })();
      expect(await outcome(() => call(anonymous, path, input)), path).toBe("UNAUTHORIZED");
    }
  });

  it("within an organisation, roles below the requirement are refused", async () => {
    const viewer = callerFor(a.viewer.user.id);
    expect(await outcome(() => viewer.organization.invite({ orgId: a.org.id, email: `${unique("x")}@example.test`, role: "MEMBER" }))).toBe("FORBIDDEN");
    expect(await outcome(() => viewer.compliance.auditTrail({ orgId: a.org.id, limit: 5 }))).toBe("FORBIDDEN");
    const member = callerFor(a.member.user.id);
    expect(await outcome(() => member.organization.rename({ orgId: a.org.id, name: "Nope" }))).toBe("FORBIDDEN");
    expect(await outcome(() => member.organization.members({ orgId: a.org.id }))).toBe("OK");
  });

  it("a platform admin who is not a member gets no tenant data through tenant procedures", async () => {
    const admin = await createUser("platform-admin", { platformAdmin: true });
    expect(await outcome(() => callerFor(admin.id).organization.members({ orgId: a.org.id }))).toBe("FORBIDDEN");
  });
});
