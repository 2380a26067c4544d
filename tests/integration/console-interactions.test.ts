/**
 * The read model and error shapes behind the console's interactions (docs/console-interactions.md):
 * a deleted deployment reads under the name it was given, and refusals come in human words, once.
 */
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { localDeploymentFixture, reconcileUntil } from "../deployment-fixtures";
import { callerFor, gpuRegionFixture, refusal, unique } from "../helpers";

let f: Awaited<ReturnType<typeof localDeploymentFixture>>;
let owner: ReturnType<typeof callerFor>;
let orgId: string;

beforeAll(async () => {
  f = await localDeploymentFixture({ quota: 2, capacity: 2 });
  owner = callerFor(f.tenant.ownerId);
  orgId = f.tenant.org.id;
});

afterAll(async () => {
  for (const s of f.driver.recorded()) await f.driver.delete(s.replicaId);
  rmSync(f.stateDir, { recursive: true, force: true });
});

describe("a deleted deployment", () => {
  it("reads under the name it was given, with when it was deleted, though its row holds the freed name", async () => {
    const name = unique("notes");
    const d = await owner.deployments.create({ orgId, name, catalogModelId: f.model.id, regionId: f.region.id, gpuTypeId: f.slot.id, replicas: 1, minReplicas: 1, maxReplicas: 1, dataClassification: "INTERNAL" });
    expect((await owner.deployments.get({ orgId, deploymentId: d.id })).deletedAt).toBeNull();
    await owner.deployments.delete({ orgId, deploymentId: d.id });
    await reconcileUntil(d.id, f.driver, (_r, phase) => phase === "DELETED");

    const stored = await db.deployment.findUniqueOrThrow({ where: { id: d.id }, select: { name: true } });
    expect(stored.name).toBe(`${name}~deleted-${d.id}`);
    const read = await owner.deployments.get({ orgId, deploymentId: d.id });
    expect(read.name).toBe(name);
    expect(read.phase).toBe("DELETED");
    expect(read.deletedAt).toBeInstanceOf(Date);
  });
});

describe("refusals in human words", () => {
  it("a form's error is the field's message, without the raw input path, and keyed by field for the form", async () => {
    const { region, gpuType } = await gpuRegionFixture();
    const admin = await db.membership.findFirstOrThrow({ where: { orgId, role: "OWNER" } });
    const caller = callerFor(admin.userId);
    const refused = await refusal(() => caller.quotas.request({ orgId, regionId: region.id, gpuTypeId: gpuType.id, additionalGpus: 1, justification: "x".repeat(2001) }));
    expect(refused).toMatchObject({ code: "BAD_REQUEST", message: "Use at most 2,000 characters", fieldErrors: { justification: ["Use at most 2,000 characters"] } });
  });

  it("a schema with no message of its own still speaks plainly (zod's own text never reaches a person)", async () => {
    const email = `${"a".repeat(250)}@example.test`;
    const refused = await refusal(() => owner.organization.invite({ orgId, email, role: "MEMBER" }));
    expect(refused.message).toBe("Use at most 254 characters");
    expect(refused.fieldErrors.email?.[0]).toBe("Use at most 254 characters");
    expect(JSON.stringify(refused)).not.toMatch(/Too big|expected string/);
  });
});
