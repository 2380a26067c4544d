/**
 * A suspended organisation can read and export, and change nothing, enumerated over the router:
 * (the export, the only mutation declared `whileSuspended`, succeeds while suspended);
 * every organisation-scoped mutation, called by the organisation's OWNER with a valid input for
 * its own objects (the shared audit cases'), is refused FORBIDDEN with the suspension's message
 * and changes nothing; the same call succeeds once the organisation is active again, so the
 * refusal is the suspension's. Every organisation-scoped query still answers. A procedure without
 * an isolation case, or an organisation mutation without an audit case, fails the suite.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { callerFor, createTenant, createUser, databaseDigest, listProcedures, outcome, refusal, type Tenant } from "../helpers";
import { AUDIT_CASES, invoke, type AuditEnv } from "../audit-cases";
import { ISOLATION_CASES } from "../isolation-cases";

const procedures = listProcedures();
const orgScoped = procedures.filter((p) => ISOLATION_CASES[p.path]?.scope === "org");
const mutations = orgScoped.filter((p) => p.type === "mutation" && !p.whileSuspended).map((p) => p.path);
// Taking the data out stays possible while suspended (the export), declared on the procedure.
const exits = orgScoped.filter((p) => p.type === "mutation" && p.whileSuspended).map((p) => p.path);
const queries = orgScoped.filter((p) => p.type === "query").map((p) => p.path);

let t: Tenant;
let env: AuditEnv;

const suspend = () => db.organization.update({ where: { id: t.org.id }, data: { status: "SUSPENDED", statusReason: "Unpaid invoices" } });
const reactivate = () => db.organization.update({ where: { id: t.org.id }, data: { status: "ACTIVE", statusReason: null } });
const suspendedMessage = (name: string) => `${name} is suspended: it can read and export its data but change nothing until a platform administrator reactivates it`;

beforeAll(async () => {
  t = await createTenant("suspended");
  env = { platformAdminId: (await createUser("platform-admin", { platformAdmin: true })).id };
});

describe("a suspended organisation", () => {
  it("knows every procedure's scope, and has a valid call for every organisation mutation", () => {
    expect(procedures.filter((p) => !(p.path in ISOLATION_CASES)).map((p) => p.path), "procedures without an isolation case (scope)").toEqual([]);
    expect(mutations.filter((m) => !(m in AUDIT_CASES)), "organisation mutations without an audit case (valid input)").toEqual([]);
    expect(mutations.length).toBeGreaterThan(15);
    expect(queries.length).toBeGreaterThan(10);
  });

  for (const path of mutations) {
    it(`${path}: the owner is refused FORBIDDEN as suspended and nothing changes; once reactivated, the same call succeeds`, async () => {
      const prepare = AUDIT_CASES[path];
      expect(prepare, `no audit case for ${path}`).toBeDefined();
      const c = await prepare!(t, env);
      const owner = callerFor(t.ownerId);
      await suspend();
      try {
        const { name } = await db.organization.findUniqueOrThrow({ where: { id: t.org.id } });
        const before = await databaseDigest();
        expect(await refusal(() => invoke(owner, path, c.input))).toMatchObject({ code: "FORBIDDEN", message: suspendedMessage(name) });
        expect(await databaseDigest()).toBe(before);
      } finally {
        await reactivate();
      }
      expect(await outcome(() => invoke(owner, path, c.input)), "the same call, the organisation active").toBe("OK");
    });
  }

  it("may export while suspended, and nothing else is declared so", () => {
    expect(exits).toEqual(["exports.create"]);
  });

  for (const path of exits) {
    it(`${path}: the owner of a suspended organisation still gets its answer`, async () => {
      const c = await AUDIT_CASES[path]!(t, env);
      await suspend();
      try {
        expect(await outcome(() => invoke(callerFor(t.ownerId), path, c.input))).toBe("OK");
      } finally {
        await reactivate();
      }
    });
  }

  for (const path of queries) {
    it(`${path}: still answers the owner`, async () => {
      const c = ISOLATION_CASES[path];
      if (c?.scope !== "org") throw new Error(`${path} is not organisation-scoped`);
      await suspend();
      try {
        const before = await databaseDigest();
        expect(await outcome(() => invoke(callerFor(t.ownerId), path, { orgId: t.org.id, ...c.input(t) }))).toBe("OK");
        expect(await databaseDigest()).toBe(before);
      } finally {
        await reactivate();
      }
    });
  }
});
