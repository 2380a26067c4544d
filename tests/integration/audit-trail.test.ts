import { beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { recordAudit, systemActor, verifyAuditChain } from "@/server/services/audit";
import { callerFor, createTenant, createUser, listProcedures, unique, type Tenant } from "../helpers";
import { AUDIT_CASES, invoke, personId, type AuditEnv } from "../audit-cases";

async function freshChain() {
  const orgId = (await db.organization.create({ data: { name: "audit", slug: unique("audit") } })).id;
  for (let i = 0; i < 5; i++) {
    await db.$transaction((tx) => recordAudit(tx, systemActor("test"), { orgId, action: "test.event", targetType: "Thing", targetId: `t${i}`, before: { n: i }, after: { n: i + 1, at: new Date() } }));
  }
  return orgId;
}

describe("tamper-evident audit trail", () => {
  it("verifies an untouched chain", async () => {
    const orgId = await freshChain();
    const result = await verifyAuditChain(db, orgId);
    expect(result).toMatchObject({ ok: true, events: 5 });
  });

  it("detects an edited event", async () => {
    const orgId = await freshChain();
    await db.auditEvent.updateMany({ where: { chain: orgId, seq: 3 }, data: { after: { n: 999 } } });
    expect(await verifyAuditChain(db, orgId)).toMatchObject({ ok: false, brokenAtSeq: 3, reason: expect.stringContaining("altered") });
  });

  it("detects an edited actor or timestamp, not only the diff", async () => {
    const orgId = await freshChain();
    await db.auditEvent.updateMany({ where: { chain: orgId, seq: 2 }, data: { actorLabel: "someone-else" } });
    expect(await verifyAuditChain(db, orgId)).toMatchObject({ ok: false, brokenAtSeq: 2 });
  });

  it("detects a deleted event in the middle", async () => {
    const orgId = await freshChain();
    await db.auditEvent.deleteMany({ where: { chain: orgId, seq: 2 } });
    expect(await verifyAuditChain(db, orgId)).toMatchObject({ ok: false, brokenAtSeq: 2, reason: expect.stringContaining("missing") });
  });

  it("detects a deleted last event", async () => {
    const orgId = await freshChain();
    await db.auditEvent.deleteMany({ where: { chain: orgId, seq: 5 } });
    expect(await verifyAuditChain(db, orgId)).toMatchObject({ ok: false, reason: expect.stringContaining("removed") });
  });

  it("detects a re-hashed forgery that does not link to its predecessor", async () => {
    const orgId = await freshChain();
    await db.auditEvent.updateMany({ where: { chain: orgId, seq: 4 }, data: { prevHash: "f".repeat(64) } });
    expect(await verifyAuditChain(db, orgId)).toMatchObject({ ok: false, brokenAtSeq: 4 });
  });

  it("keeps one gap-free chain under concurrent writers", async () => {
    const orgId = (await db.organization.create({ data: { name: "race", slug: unique("race") } })).id;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => db.$transaction((tx) => recordAudit(tx, systemActor(), { orgId, action: "race", targetType: "Thing", targetId: String(i) }))),
    );
    const seqs = (await db.auditEvent.findMany({ where: { chain: orgId }, select: { seq: true }, orderBy: { seq: "asc" } })).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await verifyAuditChain(db, orgId)).toMatchObject({ ok: true, events: 20 });
  });

  it("writes nothing when the change it describes is rolled back", async () => {
    const orgId = (await db.organization.create({ data: { name: "rollback", slug: unique("rb") } })).id;
    await expect(
      db.$transaction(async (tx) => {
        await tx.organization.update({ where: { id: orgId }, data: { name: "changed" } });
        await recordAudit(tx, systemActor(), { orgId, action: "organization.renamed", targetType: "Organization", targetId: orgId });
        throw new Error("failure half-way");
      }),
    ).rejects.toThrow("failure half-way");
    expect(await db.auditEvent.count({ where: { chain: orgId } })).toBe(0);
    expect((await db.organization.findUniqueOrThrow({ where: { id: orgId } })).name).toBe("rollback");
  });
});

/**
 * Every mutation of the router, called rightfully, must leave an audit event: the list is read
 * from the router, so a new mutation without a case in tests/audit-cases.ts fails this test.
 */
describe("audit from the first mutation", () => {
  let t: Tenant;
  let env: AuditEnv;
  beforeAll(async () => {
    t = await createTenant("audited");
    env = { platformAdminId: (await createUser("platform-admin", { platformAdmin: true })).id };
  });

  const mutations = listProcedures()
    .filter((p) => p.type === "mutation")
    .map((p) => p.path);

  it("has an audited case for every mutation", () => {
    expect(mutations.filter((m) => !(m in AUDIT_CASES))).toEqual([]);
  });

  for (const path of mutations) {
    it(`${path} writes an audit event in the organisation's chain`, async () => {
      const prepare = AUDIT_CASES[path];
      expect(prepare, `no case for ${path}`).toBeDefined();
      const c = await prepare!(t, env);
      const before = await db.auditEvent.count();
      const result = await invoke(callerFor(personId(c.as, t, env), c.ip), path, c.input);
      const orgId = typeof c.chain === "function" ? c.chain(result) : c.chain;
      const events = await db.auditEvent.findMany({ where: { chain: orgId }, orderBy: { seq: "desc" }, take: 1 });
      expect(await db.auditEvent.count()).toBeGreaterThan(before);
      expect(events[0]?.actorType).toBe("USER");
      expect(await verifyAuditChain(db, orgId)).toMatchObject({ ok: true });
    });
  }
});
