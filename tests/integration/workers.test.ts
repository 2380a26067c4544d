import { describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { recordAudit, systemActor } from "@/server/services/audit";
import { verifyAllAuditChains } from "@/workers/jobs/verify-audit-chains";
import { unique } from "../helpers";

describe("workers: audit chain verification job", () => {
  it("reports every chain, and names the broken one", async () => {
    const orgId = (await db.organization.create({ data: { name: "job", slug: unique("job") } })).id;
    for (let i = 0; i < 3; i++) await db.$transaction((tx) => recordAudit(tx, systemActor(), { orgId, action: "job.test", targetType: "Thing" }));
    expect((await verifyAllAuditChains()).find((r) => r.chain === orgId)).toMatchObject({ ok: true, events: 3 });
    await db.auditEvent.updateMany({ where: { chain: orgId, seq: 2 }, data: { action: "job.forged" } });
    const stderr: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => (stderr.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      expect((await verifyAllAuditChains()).find((r) => r.chain === orgId)).toMatchObject({ ok: false, brokenAtSeq: 2 });
    } finally {
      process.stderr.write = write;
    }
    expect(stderr.join("")).toContain(orgId);
  });
});
