/**
 * Demo data, idempotent: what is missing is created, what exists is left as it is (a second
 * `npm start` keeps every change made in the console). Run by `npm start` and the e2e server.
 */
import { createDb } from "../server/db";
import { hashPassword } from "../server/passwords";
import { recordAudit, systemActor } from "../server/services/audit";
import { CATALOG, DEMO_LOGINS, DEMO_ORGS, GPU_TYPES, REGIONS } from "./seed-data";
import { TINY_MODEL_PARAMETERS, TINY_MODEL_SHA256 } from "../workers/model-server/tiny-model";

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
      const org = await tx.organization.create({ data: { slug: demo.slug, name: demo.name } });
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

try {
  await seedPlatform();
  await seedUsers();
  await seedOrganizations();
  console.log(created.length ? `[seed] created ${created.length} item(s): ${created.join(", ")}` : "[seed] demo data already present, nothing changed");
} finally {
  await db.$disconnect();
}
