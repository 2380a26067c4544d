/**
 * Exit, end to end (docs/export-format.md): an organisation built in one installation (the test
 * database) is exported, imported into a second installation (a throw-away database, its own
 * signing key, through `npm run org:import` in a child process), exported again there; the two
 * archives match once the instance-specific parts the format lists are mapped, and the offline
 * verifier (`npm run audit:verify`, a child process) accepts both. Tampered archives — one byte of
 * usage, an edited audit event under a re-signed manifest, a removed file — fail verification and
 * are refused by the import with nothing written.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { createReadStream } from "node:fs";
import tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCheckpoint, chainOf } from "@/server/audit/log";
import { installationSigner } from "@/server/audit/keys";
import { createDb, db } from "@/server/db";
import { ArchiveWriter, readArchive, readText, verifyArchive, type ExportManifest } from "@/server/exports/archive";
import { importOrganization, ImportRefused, type ImportResult } from "@/server/exports/import";
import { migrate } from "@/scripts/lib/database";
import { createApiKey, revokeApiKey } from "@/server/services/api-keys";
import { inviteMember } from "@/server/services/members";
import { setGuardrailDefaults, setGuardrailOverride } from "@/server/services/guardrails";
import { setQuota } from "@/server/services/quotas";
import { createModelRoute } from "@/server/services/model-routes";
import { writeExport } from "@/server/services/exports";
import { createTrace } from "../trace-fixtures";
import { addMember, createUser, databaseDigest, platformFixture, unique } from "../helpers";
import { signUp } from "@/server/services/accounts";
import { throwawayDatabase } from "../migration-fixtures";

const ROOT = path.resolve(import.meta.dirname, "../..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");
const work = mkdtempSync(path.join(os.tmpdir(), "enclave-export-"));
const second = throwawayDatabase("enclave_import");

// Two installations, two keys: the test process is installation A.
const seedA = randomBytes(32).toString("base64");
const seedB = randomBytes(32).toString("base64");
process.env.AUDIT_SIGNING_KEY = seedA;
process.env.AUDIT_LOG_ORIGIN = "enclave-a.test";

function secondUrl(): string {
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${second.client.database}`;
  return url.toString();
}
const envB = () => ({ ...process.env, DATABASE_URL: secondUrl(), AUDIT_SIGNING_KEY: seedB, AUDIT_LOG_ORIGIN: "enclave-b.test", EXPORTS_DIR: path.join(work, "exports-b") });

function run(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(TSX, [path.join(ROOT, "scripts", script), ...args], { cwd: ROOT, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function entries(file: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  await readArchive(createReadStream(file), async ({ path: p, stream }) => {
    out.set(p, Buffer.from(await readText(stream)));
  });
  return out;
}

/** Writes entries as they are (manifest and signature included): what a tamperer without the key can do. */
async function writeRaw(file: string, files: Map<string, Buffer>) {
  const pack = tar.pack();
  const done = pipeline(pack as unknown as Readable, createGzip(), createWriteStream(file));
  for (const [name, data] of files) await new Promise<void>((resolve, reject) => pack.entry({ name, size: data.length }, data, (e) => (e ? reject(e) : resolve())));
  pack.finalize();
  await done;
}

/** Rewrites and re-signs the manifest with installation A's key: what a dishonest operator can do. */
async function writeResigned(file: string, files: Map<string, Buffer>) {
  const manifest = JSON.parse(files.get("manifest.json")!.toString()) as ExportManifest;
  const writer = new ArchiveWriter(createWriteStream(file) as Writable);
  for (const [name, data] of files) if (name !== "manifest.json" && name !== "manifest.sig") await writer.addText(name, data);
  const { files: _files, ...rest } = manifest;
  await writer.finish(rest, await installationSigner());
}

let vkeyA = "";
let orgSlug = "";
let archiveA = "";
let archiveB = "";
let imported: ImportResult;
let b: ReturnType<typeof createDb>;

beforeAll(async () => {
  vkeyA = (await installationSigner()).verifierKey;
  // ---- installation A: an organisation with a bit of everything ----
  const owner = { email: `${unique("owner")}@example.test`, name: "Owner" };
  const { userId: ownerId, org } = await signUp({ name: owner.name, email: owner.email, password: "correct horse battery staple", organizationName: `Round trip ${unique("org")}` }, { ip: null, requestId: unique("req") });
  orgSlug = org.slug;
  const actor = { type: "USER" as const, id: ownerId, label: owner.email, onBehalfOfUserId: ownerId };
  const admin = await createUser("platform-admin", { platformAdmin: true });
  const adminActor = { type: "USER" as const, id: admin.id, label: admin.email };
  const { gpuType, region, model } = await platformFixture();
  await addMember(org.id, "ADMIN", "admin");
  await addMember(org.id, "VIEWER", "viewer");
  await inviteMember(org.id, actor, "OWNER", { email: `${unique("invitee")}@example.test`, role: "MEMBER" });
  await db.residencyPolicy.create({ data: { orgId: org.id, dataClassification: "CONFIDENTIAL", allowedJurisdictions: ["FR"], requiredCertifications: ["SecNumCloud"], allowedRegionIds: [region.id] } });
  await setQuota(adminActor, { orgId: org.id, regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 4 });
  const deployment = await db.deployment.create({
    data: { orgId: org.id, name: "chat", catalogModelId: model.id, regionId: region.id, gpuTypeId: gpuType.id, gpusPerReplica: 1, replicas: 2, maxReplicas: 3, dataClassification: "CONFIDENTIAL", createdById: ownerId, phase: "RUNNING" },
  });
  const key = await createApiKey(org.id, actor, { name: "backend", scopes: ["inference"], allowedDeploymentIds: [deployment.id], rateLimitRpm: 600, monthlyBudgetEur: 50 });
  const old = await createApiKey(org.id, actor, { name: "old", scopes: ["read"] });
  await revokeApiKey(org.id, actor, { apiKeyId: old.id });
  await setGuardrailDefaults(org.id, actor, { rules: { "pii.input": "redact" }, piiTypes: ["EMAIL", "IBAN"], judge: null, groundedThreshold: 0.6 });
  await setGuardrailOverride(org.id, actor, { kind: "deployment", id: deployment.id }, { rules: { "pii.output": "block" } });
  // Elasticity and routing travel too: the deployment's autoscaling policy and a route over it.
  await db.autoscalingPolicy.create({ data: { deploymentId: deployment.id, enabled: true, targetInFlight: 3.5, scaleUpWindowSeconds: 15, scaleDownWindowSeconds: 240, idleTimeoutSeconds: 900 } });
  await createModelRoute(org.id, actor, { name: "assistant", mode: "WEIGHTED", dataClassification: "CONFIDENTIAL", maxInFlightPerReplica: 6, members: [{ deploymentId: deployment.id, weight: 3 }] });
  // Usage: 500 records over the last 10 hours, some streamed, some failed, some with verdicts.
  await db.$executeRawUnsafe(
    `INSERT INTO "UsageRecord" ("createdAt", id, "orgId", "apiKeyId", "deploymentId", endpoint, "tokensIn", "tokensOut", "latencyMs", "ttftMs", status, stream, "costMicroEur", guardrails)
     SELECT date_trunc('milliseconds', now() AT TIME ZONE 'UTC') - i * interval '71 seconds', gen_random_uuid(), $1, CASE WHEN i % 9 = 0 THEN NULL ELSE $2 END, $3, '/v1/chat/completions',
            10 + i, 20 + i % 50, 12.5 + i * 0.37, CASE WHEN i % 3 = 0 THEN NULL ELSE 3.25 + i % 7 END, CASE WHEN i % 17 = 0 THEN 502 ELSE 200 END, i % 2 = 0, 40 + i,
            CASE WHEN i % 5 = 0 THEN NULL WHEN i % 5 = 1 THEN '{}'::smallint[] ELSE ARRAY[0, 9]::smallint[] END
     FROM generate_series(1, 500) i`,
    org.id,
    key.id,
    deployment.id,
  );
  const apiKey = { id: key.id, name: "backend", prefix: key.prefix };
  for (let i = 0; i < 6; i++) {
    await createTrace({ orgId: org.id, apiKey, deployment, region, status: i === 5 ? 502 : 200, durationMs: 40 + i * 1.5, verdicts: [{ check: "pii", stage: "input", action: "redact", outcome: "redacted", reason: null, findings: { EMAIL: 1 }, score: null } as never] });
  }
  await createCheckpoint(chainOf(org.id), { witness: false });

  // ---- the second installation: same platform offer (codes), its own admin ----
  await migrate(secondUrl());
  b = createDb(secondUrl());
  const adminB = await b.user.create({ data: { email: "admin-b@example.test", name: "Admin B", platformAdmin: true } });
  const gpuB = await b.gpuType.create({ data: { code: gpuType.code, name: gpuType.name, vendor: gpuType.vendor, memoryGb: gpuType.memoryGb } });
  await b.region.create({
    data: { code: region.code, name: region.name, provider: region.provider, country: region.country, city: region.city, jurisdiction: region.jurisdiction, certifications: region.certifications, driverKind: "LOCAL", carbonIntensityGco2Kwh: 50, capacities: { create: { gpuTypeId: gpuB.id, totalGpus: 16, priceCentsPerGpuHour: 295 } } },
  });
  await b.catalogModel.create({
    data: { slug: model.slug, family: model.family, name: model.name, version: model.version, parameterCount: model.parameterCount, contextLength: model.contextLength, license: model.license, openWeights: true, openData: true, origin: model.origin, artifactUri: model.artifactUri, artifactSha256: model.artifactSha256, runtime: model.runtime, gpuMemoryGb: 1, fitsGpuTypes: { connect: { id: gpuB.id } } },
  });
  void adminB;

  // ---- export from A, import into B, export again from B ----
  archiveA = path.join(work, "a.tar.gz");
  await writeExport(org.id, createWriteStream(archiveA), { workDir: work });
  const imp = await run("org-import.ts", [archiveA, "--json", "--key", vkeyA], envB());
  expect(imp.stderr).toBe("");
  expect(imp.code).toBe(0);
  imported = JSON.parse(imp.stdout) as ImportResult;
  archiveB = path.join(work, "b.tar.gz");
  const exp = await run("org-export.ts", ["--org", imported.organization.slug, "--out", archiveB], envB());
  expect(exp.code, exp.stderr).toBe(0);
}, 240_000);

afterAll(async () => {
  await b?.$disconnect();
  rmSync(work, { recursive: true, force: true });
});

/**
 * Installation A's text with B's ids, key prefixes (the current key's, in usage) and name in place
 * of A's: the documented mapping. Traces keep the prefix the call was made with, a fact of history.
 */
function mapped(text: string, options: { prefixes: boolean } = { prefixes: true }): string {
  const pairs: [string, string][] = [
    imported.ids.organization,
    ...Object.entries(imported.ids.deployments),
    ...Object.entries(imported.ids.apiKeys),
    ...Object.entries(imported.ids.regions),
    ...(options.prefixes ? imported.apiKeys.map((k) => [k.oldPrefix, k.newPrefix] as [string, string]) : []),
    ["enclave-a.test", "enclave-b.test"],
  ];
  return pairs.reduce((t, [from, to]) => t.split(from).join(to), text);
}

describe("export and import between two installations", () => {
  it("recreates the organisation: members invited, keys re-issued, deployments stopped, the revoked key left behind", async () => {
    expect(imported.organization.slug).toBe(orgSlug);
    expect(imported.invitations.map((i) => i.role).sort()).toEqual(["ADMIN", "MEMBER", "OWNER", "VIEWER"]);
    // Each invited member is mailed their own link, through the outbox of the importing installation.
    const mails = await b.mailMessage.findMany({ where: { orgId: imported.organization.id, kind: "INVITATION" }, select: { to: true, text: true, subject: true } });
    expect(mails.map((m) => m.to).sort()).toEqual(imported.invitations.map((i) => i.email).sort());
    for (const invitation of imported.invitations) {
      const mail = mails.find((m) => m.to === invitation.email)!;
      expect(mail.subject).toContain(imported.organization.name);
      expect(mail.text).toContain(invitation.acceptPath);
      for (const other of imported.invitations) if (other !== invitation) expect(mail.text).not.toContain(other.acceptPath);
    }
    expect(imported.apiKeys.map((k) => k.name)).toEqual(["backend"]);
    expect(imported.apiKeys[0].key).toMatch(/^enc_[0-9a-f]{12}_/);
    expect(imported.apiKeys[0].newPrefix).not.toBe(imported.apiKeys[0].oldPrefix);
    expect(imported.unmapped.map((u) => u.kind)).toContain("api-key");
    expect(imported.deployments).toEqual([expect.objectContaining({ name: "chat", state: "STOPPED" })]);
    expect(imported.quotaRequests).toEqual([expect.objectContaining({ gpus: 4 })]);
    expect(imported.counts).toEqual({ usageRecords: 500, traces: 6, auditEvents: expect.any(Number), importedAuditLogs: 1 });
    const org = await b.organization.findUniqueOrThrow({ where: { id: imported.organization.id }, include: { deployments: true, quotas: true } });
    expect(org.status).toBe("ACTIVE");
    expect(org.quotas).toEqual([]);
    expect(org.deployments[0]).toMatchObject({ desiredState: "STOPPED", phase: "STOPPED", reservedGpus: 0 });
    // The autoscaling policy and the route, over the new deployment.
    const newId = imported.ids.deployments[Object.keys(imported.ids.deployments)[0]];
    expect(await b.autoscalingPolicy.findUnique({ where: { deploymentId: newId } })).toMatchObject({ enabled: true, targetInFlight: 3.5, scaleUpWindowSeconds: 15, scaleDownWindowSeconds: 240, idleTimeoutSeconds: 900 });
    expect(imported.routes).toEqual([{ name: "assistant", id: expect.any(String), members: ["chat"] }]);
    const route = await b.modelRoute.findUniqueOrThrow({ where: { id: imported.routes[0].id }, include: { members: true } });
    expect(route).toMatchObject({ orgId: imported.organization.id, mode: "WEIGHTED", dataClassification: "CONFIDENTIAL", maxInFlightPerReplica: 6 });
    expect(route.members.map((m) => ({ deploymentId: m.deploymentId, weight: m.weight, position: m.position }))).toEqual([{ deploymentId: newId, weight: 3, position: 0 }]);
    expect(await b.auditEvent.count({ where: { orgId: imported.organization.id, action: "model_route.created", targetId: route.id } })).toBe(1);
    // Roll-ups were loaded: the dashboards' totals equal the raw rows.
    const [total] = await b.$queryRawUnsafe<{ requests: number }[]>(`SELECT sum(requests)::int AS requests FROM "UsageDailyTotal" WHERE "orgId" = $1 AND "deploymentId" = '*' AND "apiKeyId" = '*'`, imported.organization.id);
    expect(total.requests).toBe(500);
  });

  it("produces a second archive equal to the first except for what the format lists as instance-specific", async () => {
    const a = await entries(archiveA);
    const bb = await entries(archiveB);
    // Usage and traces: the same bytes once ids, prefixes and the installation's name are mapped.
    expect(bb.get("usage/focus.csv")!.toString()).toBe(mapped(a.get("usage/focus.csv")!.toString()));
    expect(bb.get("traces/traces.jsonl")!.toString()).toBe(mapped(a.get("traces/traces.jsonl")!.toString(), { prefixes: false }));
    // The source's audit log is carried, byte for byte, under audit/imported/0/.
    for (const name of ["events.jsonl", "checkpoints.jsonl", "proofs.json", "verifier-keys.txt"]) {
      expect(bb.get(`audit/imported/0/${name}`)!.equals(a.get(`audit/${name}`)!)).toBe(true);
    }
    // Configuration: equal but for the instance-specific fields.
    const json = (m: Map<string, Buffer>, name: string) => JSON.parse(m.get(name)!.toString());
    const strip = (value: unknown): unknown =>
      JSON.parse(JSON.stringify(value, (k, v) => (["id", "createdAt", "updatedAt", "joinedAt", "invitedAt", "expiresAt", "lastUsedAt", "deploymentId", "prefix", "desiredState", "phase", "status"].includes(k) ? undefined : v)));
    for (const name of ["residency-policies.json", "guardrail-policies.json", "model-routes.json"]) expect(strip(json(bb, name))).toEqual(strip(json(a, name)));
    expect(json(a, "model-routes.json")).toEqual([expect.objectContaining({ name: "assistant", members: [expect.objectContaining({ deployment: "chat", weight: 3 })] })]);
    const depA = json(a, "deployments.json").map((d: Record<string, unknown>) => ({ ...d, region: { ...(d.region as object), id: undefined } }));
    const depB = json(bb, "deployments.json").map((d: Record<string, unknown>) => ({ ...d, region: { ...(d.region as object), id: undefined } }));
    expect(strip(depB)).toEqual(strip(depA));
    const liveKeys = (m: Map<string, Buffer>) => strip(json(m, "api-keys.json").filter((k: { revokedAt: string | null }) => !k.revokedAt));
    expect(liveKeys(bb)).toEqual(liveKeys(a));
    const people = (m: Map<string, Buffer>) => {
      const f = json(m, "members.json") as { members: { email: string; role: string }[]; pendingInvitations: { email: string; role: string }[] };
      return [...f.members, ...f.pendingInvitations].map((p) => `${p.email}:${p.role}`).sort();
    };
    expect(people(bb)).toEqual(people(a));
    expect(strip(json(bb, "organization.json"))).toEqual(strip({ ...json(a, "organization.json"), slug: imported.organization.slug }));
  });

  it("refuses an import whose slug is taken, naming it, and writes nothing", async () => {
    const before = await databaseDigest();
    const admin = await db.user.findFirstOrThrow({ where: { platformAdmin: true } });
    const error = await importOrganization(archiveA, { type: "USER", id: admin.id, label: admin.email }, { trustedKey: vkeyA }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImportRefused);
    expect(error).toMatchObject({ code: "CONFLICT", field: "slug", message: expect.stringContaining(`The slug ${orgSlug} is taken`) });
    expect(await databaseDigest()).toBe(before);
  });

  it("passes the offline verifier on both archives", async () => {
    const onA = await run("audit-verify.ts", [archiveA, "--key", vkeyA], process.env);
    expect(onA.code, onA.stderr + onA.stdout).toBe(0);
    expect(onA.stdout).toContain("OK");
    const onB = await run("audit-verify.ts", [archiveB], process.env);
    expect(onB.code, onB.stderr + onB.stdout).toBe(0);
    expect(onB.stderr).toContain("integrity, not origin");
    expect(onB.stdout).toContain("audit/imported/0: ok");
  });
});

describe("a tampered archive", () => {
  const tampered = async (name: string, change: (files: Map<string, Buffer>) => Promise<void> | void, resign = false) => {
    const files = await entries(archiveA);
    await change(files);
    const file = path.join(work, `${name}.tar.gz`);
    await (resign ? writeResigned(file, files) : writeRaw(file, files));
    return file;
  };

  const refusedWithNothingWritten = async (file: string, reason: RegExp) => {
    const verify = await run("audit-verify.ts", [file, "--key", vkeyA], process.env);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(reason);
    const before = await databaseDigest();
    const admin = await db.user.findFirstOrThrow({ where: { platformAdmin: true } });
    const error = await importOrganization(file, { type: "USER", id: admin.id, label: admin.email }, { slug: unique("tampered"), trustedKey: vkeyA }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImportRefused);
    expect((error as Error).message).toMatch(reason);
    expect(await databaseDigest()).toBe(before);
  };

  it("with one byte of usage changed fails verification and is refused", async () => {
    const file = await tampered("usage-byte", (files) => {
      const csv = Buffer.from(files.get("usage/focus.csv")!);
      const at = csv.indexOf(",200,") + 1;
      csv[at] = "3".charCodeAt(0);
      files.set("usage/focus.csv", csv);
    });
    await refusedWithNothingWritten(file, /usage\/focus\.csv does not match its SHA-256/);
  });

  it("with an edited audit event, even under a manifest re-signed by the operator, fails verification and is refused", async () => {
    const file = await tampered(
      "audit-event",
      (files) => {
        const lines = files.get("audit/events.jsonl")!.toString().split("\n");
        const event = JSON.parse(lines[0]);
        event.actorLabel = "someone else";
        lines[0] = JSON.stringify(event);
        files.set("audit/events.jsonl", Buffer.from(lines.join("\n")));
      },
      true,
    );
    await refusedWithNothingWritten(file, /audit/);
    const report = await verifyArchive(file, { trustedKey: vkeyA });
    expect(report.ok).toBe(true); // The manifest itself verifies: only the audit log's own proofs catch it.
  });

  it("with a file removed fails verification and is refused", async () => {
    const file = await tampered("removed", (files) => void files.delete("traces/traces.jsonl"));
    await refusedWithNothingWritten(file, /traces\/traces\.jsonl is listed in the manifest but missing/);
  });

  it("that verifies but fails half-way through its import (a usage row this installation cannot read) leaves nothing behind", async () => {
    const file = await tampered(
      "half-way",
      (files) => {
        const csv = files.get("usage/focus.csv")!.toString();
        const at = csv.lastIndexOf("Z,/v1/chat/completions,");
        files.set("usage/focus.csv", Buffer.from(`${csv.slice(0, at)}X${csv.slice(at + 1)}`));
      },
      true,
    );
    expect((await verifyArchive(file, { trustedKey: vkeyA })).ok).toBe(true);
    const before = await databaseDigest();
    const mailsBefore = await db.mailMessage.count();
    const admin = await db.user.findFirstOrThrow({ where: { platformAdmin: true } });
    const slug = unique("half-way");
    const error = await importOrganization(file, { type: "USER", id: admin.id, label: admin.email }, { slug, trustedKey: vkeyA }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImportRefused);
    expect((error as Error).message).toMatch(/undone.*x_CreatedAt/);
    expect(await db.organization.findUnique({ where: { slug } })).toBeNull();
    expect(await databaseDigest()).toBe(before);
    // Its members were never mailed a link to an organisation that does not exist.
    expect(await db.mailMessage.count()).toBe(mailsBefore);
  });

  it("signed by another key than the trusted one is refused", async () => {
    const verify = await run("audit-verify.ts", [archiveB, "--key", vkeyA], process.env);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(/manifest\.sig/);
  });
});
