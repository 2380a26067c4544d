/**
 * Demo data, idempotent: what is missing is created, what exists is left as it is (a second
 * `npm start` keeps every change made in the console). Run by `npm start` and the e2e server.
 * Only for a demo installation (`ENCLAVE_DEMO=1`, or no DATABASE_URL; scripts/lib/demo.ts): with
 * a database of your own nothing is seeded, and the first platform admin comes from
 * `npm run admin:create` — no account with a known password exists.
 */
import { createDb } from "../server/db";
import { hashPassword } from "../server/passwords";
import { recordAudit, systemActor } from "../server/services/audit";
import { CATALOG, DEMO_KEY_FILE, DEMO_LOGINS, DEMO_ORGS, DEMO_WORKLOAD, GPU_TYPES, REGIONS } from "./seed-data";
import { TINY_MODEL_PARAMETERS, TINY_MODEL_SHA256 } from "../workers/model-server/tiny-model";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { generateApiKey } from "../server/services/api-key-secrets";
import { createDeployment } from "../server/services/deployments";
import { demoMode } from "../scripts/lib/demo";

if (!demoMode(process.env)) {
  console.log("[seed] not a demo installation (DATABASE_URL set or ENCLAVE_DEMO=0): no demo data seeded");
  process.exit(0);
}

const db = createDb();
const actor = systemActor("seed");
const created: string[] = [];

async function seedPlatform() {
  for (const gpu of GPU_TYPES) {
    if (await db.gpuType.findUnique({ where: { code: gpu.code } })) continue;
    await db.gpuType.create({ data: gpu });
    created.push(`GPU type ${gpu.code}`);
  }
  const gpuIds = new Map((await db.gpuType.findMany()).map((g) => [g.code, g.id]));

  for (const { capacities, ...region } of REGIONS) {
    if (await db.region.findUnique({ where: { code: region.code } })) continue;
    await db.$transaction(async (tx) => {
      const row = await tx.region.create({
        data: {
          ...region,
          capacities: { create: capacities.map((c) => ({ gpuTypeId: gpuIds.get(c.gpu)!, totalGpus: c.total, priceCentsPerGpuHour: c.priceCents })) },
        },
      });
      await recordAudit(tx, actor, { orgId: null, action: "region.created", targetType: "Region", targetId: row.id, after: { code: region.code, capacities } });
    });
    created.push(`region ${region.code}`);
  }

  for (const { fits, ...model } of CATALOG) {
    if (await db.catalogModel.findUnique({ where: { slug_version: { slug: model.slug, version: model.version } } })) continue;
    const tiny = model.slug === "tiny-random-llama";
    await db.$transaction(async (tx) => {
      const row = await tx.catalogModel.create({
        data: {
          ...model,
          parameterCount: tiny ? BigInt(TINY_MODEL_PARAMETERS) : model.parameterCount,
          // Hub artifacts get their digest when first fetched and verified; ours is known now.
          artifactSha256: tiny ? TINY_MODEL_SHA256 : null,
          fitsGpuTypes: { connect: fits.map((code) => ({ code })) },
        },
      });
      await recordAudit(tx, actor, { orgId: null, action: "catalog.model_added", targetType: "CatalogModel", targetId: row.id, after: { slug: model.slug, version: model.version } });
    });
    created.push(`model ${model.slug} ${model.version}`);
  }
}

async function seedUsers() {
  const { admin } = DEMO_LOGINS;
  if (!(await db.user.findUnique({ where: { email: admin.email } }))) {
    await db.user.create({ data: { email: admin.email, name: admin.name, platformAdmin: true, passwordHash: await hashPassword(admin.password) } });
    created.push(`platform admin ${admin.email}`);
  }
  for (const t of DEMO_LOGINS.tenants) {
    if (await db.user.findUnique({ where: { email: t.email } })) continue;
    await db.user.create({ data: { email: t.email, name: t.name, passwordHash: await hashPassword(t.password) } });
    created.push(`user ${t.email}`);
  }
}

async function seedOrganizations() {
  const regionIds = new Map((await db.region.findMany({ select: { code: true, id: true } })).map((r) => [r.code, r.id]));
  const gpuIds = new Map((await db.gpuType.findMany({ select: { code: true, id: true } })).map((g) => [g.code, g.id]));
  for (const demo of DEMO_ORGS) {
    if (await db.organization.findUnique({ where: { slug: demo.slug } })) continue;
    await db.$transaction(async (tx) => {
      const org = await tx.organization.create({ data: { slug: demo.slug, name: demo.name, ...demo.budget, budgetAlertThresholds: [...demo.budget.budgetAlertThresholds] } });
      await recordAudit(tx, actor, { orgId: org.id, action: "organization.created", targetType: "Organization", targetId: org.id, after: { name: org.name, slug: org.slug } });
      for (const t of DEMO_LOGINS.tenants.filter((t) => t.org === demo.name)) {
        const user = await tx.user.findUniqueOrThrow({ where: { email: t.email } });
        const m = await tx.membership.create({ data: { orgId: org.id, userId: user.id, role: t.role } });
        await recordAudit(tx, actor, { orgId: org.id, action: "member.added", targetType: "Membership", targetId: m.id, after: { email: t.email, role: t.role } });
      }
      for (const q of demo.quotas) {
        const quota = await tx.quota.create({ data: { orgId: org.id, regionId: regionIds.get(q.region)!, gpuTypeId: gpuIds.get(q.gpu)!, limitGpus: q.limit } });
        await recordAudit(tx, actor, { orgId: org.id, action: "quota.set", targetType: "Quota", targetId: quota.id, after: { region: q.region, gpuType: q.gpu, limitGpus: q.limit } });
      }
      for (const p of demo.policies) {
        const policy = await tx.residencyPolicy.create({ data: { orgId: org.id, ...p, allowedJurisdictions: [...p.allowedJurisdictions], requiredCertifications: [...p.requiredCertifications] } });
        await recordAudit(tx, actor, { orgId: org.id, action: "residency_policy.set", targetType: "ResidencyPolicy", targetId: policy.id, after: p });
      }
      if (demo.slug === "nordic-data-agency") {
        const owner = await tx.user.findUniqueOrThrow({ where: { email: "ines.lindqvist@nordicdata.eu" } });
        const request = await tx.quotaRequest.create({
          data: {
            orgId: org.id,
            regionId: regionIds.get("fi-kajaani-lumi")!,
            gpuTypeId: gpuIds.get("MI250X-GCD")!,
            additionalGpus: 8,
            justification: "Pilot of machine translation for public-sector documents in the Nordic languages (EuroLLM-9B), Q1 load tests.",
            requestedById: owner.id,
          },
        });
        await recordAudit(tx, { type: "USER", id: owner.id, label: owner.email }, { orgId: org.id, action: "quota.requested", targetType: "QuotaRequest", targetId: request.id, after: { additionalGpus: 8 } });
      }
    });
    created.push(`organisation ${demo.name}`);
  }
}

/**
 * The starter quota (docs/onboarding.md): one CPU slot in the on-premises demo region for every
 * organisation created from now on, so a newcomer deploys the tiny model with no admin action.
 * Set once: after an admin has changed it (an audit event exists), the seed leaves it alone.
 */
async function seedStarterQuota() {
  if ((await db.starterQuota.count()) || (await db.auditEvent.findFirst({ where: { action: "platform.starter_quota_set" }, select: { id: true } }))) return;
  const [region, slot] = await Promise.all([db.region.findUniqueOrThrow({ where: { code: "onprem-demo" } }), db.gpuType.findUniqueOrThrow({ where: { code: "CPU-SLOT" } })]);
  await db.$transaction(async (tx) => {
    await tx.starterQuota.create({ data: { regionId: region.id, gpuTypeId: slot.id, limitGpus: 1 } });
    await recordAudit(tx, actor, { orgId: null, action: "platform.starter_quota_set", targetType: "StarterQuota", targetId: "starter-quota", before: { entries: [] }, after: { entries: [{ region: region.code, gpuType: slot.code, limitGpus: 1 }] } });
  });
  created.push("starter quota (1 CPU-SLOT in onprem-demo)");
}

/**
 * A running demo: the tiny model deployed in the on-premises demo region for the hospital, and
 * an API key for it, so that any OpenAI client works as soon as `npm start` has finished.
 */
async function seedDemoWorkload() {
  const org = await db.organization.findUnique({ where: { slug: DEMO_WORKLOAD.org } });
  const owner = await db.user.findUnique({ where: { email: DEMO_WORKLOAD.owner } });
  if (!org || !owner) return;
  const actor = { type: "USER" as const, id: owner.id, label: owner.email };
  let deployment = await db.deployment.findFirst({ where: { orgId: org.id, name: DEMO_WORKLOAD.deployment } });
  if (!deployment && !(await db.auditEvent.findFirst({ where: { chain: org.id, action: "deployment.created" } }))) {
    const [model, region, slot] = await Promise.all([
      db.catalogModel.findFirstOrThrow({ where: { slug: "tiny-random-llama" } }),
      db.region.findUniqueOrThrow({ where: { code: "onprem-demo" } }),
      db.gpuType.findUniqueOrThrow({ where: { code: "CPU-SLOT" } }),
    ]);
    deployment = await createDeployment(org.id, actor, {
      name: DEMO_WORKLOAD.deployment,
      catalogModelId: model.id,
      regionId: region.id,
      gpuTypeId: slot.id,
      replicas: 1,
      minReplicas: 1,
      maxReplicas: 2,
      dataClassification: "INTERNAL",
    });
    created.push(`deployment ${DEMO_WORKLOAD.deployment}`);
  }
  const existing = await db.apiKey.findFirst({ where: { orgId: org.id, name: DEMO_WORKLOAD.keyName } });
  // Present (or replaced in the console on purpose, then the file is stale and start says so): leave it.
  if (existing) return;
  const { key, prefix, secretHash } = generateApiKey();
  await db.$transaction(async (tx) => {
    const row = await tx.apiKey.create({
      data: { orgId: org.id, name: DEMO_WORKLOAD.keyName, prefix, secretHash, scopes: ["inference", "read"], rateLimitRpm: 600, createdById: owner.id },
    });
    await recordAudit(tx, actor, { orgId: org.id, action: "api_key.created", targetType: "ApiKey", targetId: row.id, after: { name: row.name, prefix, scopes: row.scopes } });
  });
  mkdirSync(path.dirname(DEMO_KEY_FILE), { recursive: true });
  writeFileSync(DEMO_KEY_FILE, key + "\n", { mode: 0o600 });
  created.push(`API key ${DEMO_WORKLOAD.keyName}`);
}

try {
  await seedPlatform();
  await seedUsers();
  await seedOrganizations();
  await seedStarterQuota();
  await seedDemoWorkload();
  console.log(created.length ? `[seed] created ${created.length} item(s): ${created.join(", ")}` : "[seed] demo data already present, nothing changed");
} finally {
  await db.$disconnect();
}
