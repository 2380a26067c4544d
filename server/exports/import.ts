/**
 * Import of an export archive (docs/export-format.md, "Import") into this installation.
 *
 * 1. Verify first, write nothing before: every manifest hash, the manifest's signature, the audit
 *    part (server/audit/verify.ts) and each log imported earlier. A refusal names the reason.
 * 2. The configuration in one transaction, under the rules a console action meets: the
 *    organisation (SUSPENDED, "import in progress", until the end), members invited again
 *    (invitation links returned once, and mailed once the import completes), residency and guardrail policies, deployments created
 *    STOPPED (no GPU reserved: starting one later reserves against a quota like any start), quotas
 *    asked for as quota requests (a platform admin decides), API keys re-issued with new secrets
 *    (returned once, the old prefixes beside them), the source audit log kept read-only.
 * 3. Usage and traces in batches (each batch its transaction), re-hashed as they stream; then the
 *    usage roll-ups. The organisation is activated last.
 * A failure after step 2 removes everything the import wrote for the organisation (its rows carry
 * its new id; the organisation was never active), so no half-imported organisation remains.
 */
import { createReadStream } from "node:fs";
import pg from "pg";
import { z } from "zod";
import { chainOf } from "../audit/log";
import { readAuditBundleFiles, verifyAuditBundle } from "../audit/verify";
import { db, type Tx } from "../db";
import { DomainError } from "../errors";
import type { DataClassification, OrgRole } from "../generated/prisma/enums";
import { Prisma } from "../generated/prisma/client";
import { newToken } from "../passwords";
import { generateApiKey } from "../services/api-key-secrets";
import { recordAudit, accountableUserId, type Actor } from "../services/audit";
import { consoleUrl, queueMail } from "../services/mail";
import { invitationMail, type RenderedMail } from "../services/mail-templates";
import { invitationPath } from "../services/members";
import { evaluateResidency } from "../services/policy";
import { modelRouteAuditView } from "../services/model-routes";
import { rollUpUsage } from "../services/usage-rollup";
import { csvRecords, readArchive, textLines, verifyArchive, type ArchiveProblem, type ExportManifest } from "./archive";
import { usageRowFromFocus, type UsageRow } from "./focus";
import { MODEL_ROUTE_MODES } from "../../lib/model-routes";
import { traceRecordFromOtlpLine } from "./otlp-json";
import type { TraceRecord } from "../gateway/trace";
import { compressTraceRecord } from "../gateway/trace-sql";

const BATCH = 5_000;
const INVITATION_TTL_DAYS = 14;
const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;

/** Refused before anything was written; `problems` lists every reason. */
export class ImportRefused extends DomainError {
  constructor(
    message: string,
    readonly problems: string[],
    code: "BAD_REQUEST" | "CONFLICT" = "BAD_REQUEST",
    field?: string,
  ) {
    super(code, message, { field });
    this.name = "ImportRefused";
  }
}

// ─── What the archive's configuration files hold (zod at the edge) ──────────

const iso = z.string().datetime({ offset: true });
const role = z.enum(["OWNER", "ADMIN", "MEMBER", "VIEWER"]);
const dataClass = z.enum(["PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED"]);
const organizationFile = z.object({
  id: z.string(),
  slug: z.string(),
  name: z.string().min(1).max(200),
  budget: z.object({ monthlyBudgetCents: z.number().int().nullable(), mode: z.enum(["SOFT", "HARD"]), alertThresholds: z.array(z.number().int()) }),
  webhook: z.object({ url: z.string(), enabled: z.boolean() }).nullable(),
});
const membersFile = z.object({
  members: z.array(z.object({ email: z.string().email(), name: z.string(), role })),
  pendingInvitations: z.array(z.object({ email: z.string().email(), role })),
});
const residencyFile = z.array(
  z.object({ dataClassification: dataClass, allowedJurisdictions: z.array(z.string()), requiredCertifications: z.array(z.string()), allowedRegions: z.array(z.string()), allowExtraterritorial: z.boolean() }),
);
const rules = z.record(z.string(), z.string());
const guardrailsFile = z.object({
  defaults: z
    .object({
      rules,
      piiTypes: z.array(z.string()),
      judge: z.union([z.object({ kind: z.literal("deployment"), deployment: z.string().nullable(), deploymentId: z.string().optional() }), z.object({ kind: z.literal("http"), url: z.string() })]).nullable(),
      groundedThreshold: z.number().nullable(),
    })
    .nullable(),
  deployments: z.array(z.object({ deploymentId: z.string(), deployment: z.string().nullable(), rules })),
  apiKeys: z.array(z.object({ apiKey: z.object({ id: z.string(), name: z.string().optional(), prefix: z.string().optional() }), rules })),
});
const quotasFile = z.array(z.object({ region: z.string(), gpuType: z.string(), limitGpus: z.number().int().min(0), allocatedGpus: z.number().int().min(0) }));
const deploymentsFile = z.array(
  z.object({
    id: z.string(),
    name: z.string().min(1).max(100),
    model: z.object({ slug: z.string(), version: z.string(), name: z.string(), artifactSha256: z.string().nullable() }),
    region: z.object({ id: z.string(), code: z.string(), name: z.string() }),
    gpuType: z.string(),
    gpusPerReplica: z.number().int().min(1),
    replicas: z.number().int().min(0),
    minReplicas: z.number().int().min(0),
    maxReplicas: z.number().int().min(0),
    dataClassification: dataClass,
    // Absent from archives made before autoscaling existed.
    autoscaling: z
      .object({ enabled: z.boolean(), targetInFlight: z.number().positive(), scaleUpWindowSeconds: z.number().int().min(0), scaleDownWindowSeconds: z.number().int().min(0), idleTimeoutSeconds: z.number().int().min(0) })
      .nullable()
      .optional(),
    deleted: z.boolean(),
  }),
);
const modelRoutesFile = z.array(
  z.object({
    id: z.string(),
    name: z.string().min(1).max(100),
    mode: z.enum(MODEL_ROUTE_MODES),
    dataClassification: dataClass,
    maxInFlightPerReplica: z.number().int().min(1).max(1024),
    members: z.array(z.object({ deploymentId: z.string(), deployment: z.string().nullable(), weight: z.number().int().min(1).max(100) })),
  }),
);
const apiKeysFile = z.array(
  z.object({
    id: z.string(),
    name: z.string().min(1).max(200),
    prefix: z.string(),
    scopes: z.array(z.string()),
    allowedDeployments: z.array(z.object({ id: z.string(), name: z.string().nullable() })),
    expiresAt: iso.nullable(),
    rateLimitRpm: z.number().int().nullable(),
    rateLimitTpm: z.number().int().nullable(),
    monthlyBudgetCents: z.number().int().nullable(),
    captureContent: z.boolean(),
    revokedAt: iso.nullable(),
  }),
);

const CONFIG = {
  "organization.json": organizationFile,
  "members.json": membersFile,
  "residency-policies.json": residencyFile,
  "guardrail-policies.json": guardrailsFile,
  "quotas.json": quotasFile,
  "deployments.json": deploymentsFile,
  "api-keys.json": apiKeysFile,
} as const;
/** Files that archives made by earlier versions do not have: absent, they import as empty. */
const OPTIONAL_CONFIG = {
  "model-routes.json": { schema: modelRoutesFile, absent: [] as z.infer<typeof modelRoutesFile> },
} as const;
type Config = { [K in keyof typeof CONFIG]: z.infer<(typeof CONFIG)[K]> } & { [K in keyof typeof OPTIONAL_CONFIG]: z.infer<(typeof OPTIONAL_CONFIG)[K]["schema"]> };

// ─── The result ──────────────────────────────────────────────────────────────

export interface UnmappedItem {
  kind: "region" | "model" | "gpu-type" | "deployment" | "api-key" | "quota" | "webhook" | "judge" | "policy" | "route" | "audit";
  item: string;
  reason: string;
}

export interface ImportResult {
  organization: { id: string; slug: string; name: string };
  source: { installation: string; verifierKey: string; exportedAt: string; organization: ExportManifest["organization"]; enclaveVersion: string; keyFromArchive: boolean };
  /** Shown once: the links that let each member join again. */
  invitations: { email: string; role: OrgRole; acceptPath: string }[];
  /** Shown once: each key's new secret, with the prefix it replaces. */
  apiKeys: { name: string; oldPrefix: string; newPrefix: string; key: string }[];
  deployments: { name: string; id: string; state: "STOPPED"; residency: string[] }[];
  /** Routes recreated over the imported deployments, members in preference order. */
  routes: { name: string; id: string; members: string[] }[];
  quotaRequests: { region: string; gpuType: string; gpus: number }[];
  unmapped: UnmappedItem[];
  counts: { usageRecords: number; traces: number; auditEvents: number; importedAuditLogs: number };
  /** Source id → new id, for a reader who compares the two installations. */
  ids: { organization: [string, string]; deployments: Record<string, string>; apiKeys: Record<string, string>; regions: Record<string, string> };
}

export interface ImportOptions {
  /** The slug of the new organisation (default: the source's). */
  slug?: string;
  /** The source installation's verifier key; without it the archive's own key is used (integrity, not origin). */
  trustedKey?: string | null;
  /** Called as the bulk data loads. */
  onProgress?: (p: { stage: "verify" | "configuration" | "usage" | "traces" | "rollup"; rows?: number }) => void;
}

const isConfig = (p: string) => p in CONFIG || p in OPTIONAL_CONFIG;
const isAudit = (p: string) => p.startsWith("audit/");
const describe = (problems: ArchiveProblem[]) => problems.map((p) => p.message);

/** The imported logs of an archive, by folder: audit/imported/<n>/… */
function importedLogs(kept: Map<string, string>) {
  const byPosition = new Map<number, { source: Record<string, unknown>; files: Map<string, string> }>();
  for (const [p, content] of kept) {
    const m = /^audit\/imported\/(\d+)\/(.+)$/.exec(p);
    if (!m) continue;
    const n = Number(m[1]);
    const entry = byPosition.get(n) ?? { source: {}, files: new Map<string, string>() };
    if (m[2] === "source.json") entry.source = JSON.parse(content) as Record<string, unknown>;
    else entry.files.set(`audit/${m[2]}`, content);
    byPosition.set(n, entry);
  }
  return [...byPosition.entries()].sort(([a], [b]) => a - b).map(([position, v]) => ({ position, ...v }));
}

export interface VerifiedArchive {
  manifest: ExportManifest;
  config: Config;
  keyFromArchive: boolean;
  verifierKey: string;
  audit: { files: Map<string, string>; events: number; verifiedTreeSize: number | null };
  imported: { position: number; source: Record<string, unknown>; files: Map<string, string>; events: number; verifiedTreeSize: number | null }[];
  digests: Map<string, string>;
}

/** Step 1: everything checked, nothing written. Throws ImportRefused with every reason. */
export async function verifyArchiveForImport(file: string, trustedKey?: string | null): Promise<VerifiedArchive> {
  const v = await verifyArchive(file, { trustedKey, keep: (p) => isConfig(p) || isAudit(p) });
  if (!v.ok || !v.manifest || !v.key) throw new ImportRefused(`The archive was refused, nothing was imported: ${describe(v.problems).join("; ")}`, describe(v.problems));
  const problems: string[] = [];
  const config = {} as Record<string, unknown>;
  const files: [string, z.ZodType, unknown][] = [...Object.entries(CONFIG).map(([name, schema]) => [name, schema, undefined] as [string, z.ZodType, unknown]), ...Object.entries(OPTIONAL_CONFIG).map(([name, o]) => [name, o.schema, o.absent] as [string, z.ZodType, unknown])];
  for (const [name, schema, absent] of files) {
    const text = v.kept.get(name);
    if (text === undefined) {
      if (absent !== undefined) config[name] = absent;
      else problems.push(`the archive has no ${name}`);
      continue;
    }
    try {
      const parsed = schema.safeParse(JSON.parse(text));
      if (parsed.success) config[name] = parsed.data;
      else problems.push(`${name}: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(root)"} ${i.message}`).join("; ")}`);
    } catch {
      problems.push(`${name} is not JSON`);
    }
  }
  const own = new Map([...v.kept].filter(([p]) => isAudit(p) && !p.startsWith("audit/imported/")));
  let audit: VerifiedArchive["audit"] | null = null;
  try {
    const bundle = readAuditBundleFiles(own);
    const report = verifyAuditBundle(bundle, { trustedKeys: [v.key.verifierKey] });
    if (!report.ok) problems.push(...report.problems.map((p) => `audit log: ${p.message}`));
    audit = { files: own, events: report.events, verifiedTreeSize: report.verifiedTreeSize };
  } catch (error) {
    problems.push(`audit log: ${(error as Error).message}`);
  }
  const imported: VerifiedArchive["imported"] = [];
  for (const log of importedLogs(v.kept)) {
    try {
      const key = typeof log.source.verifierKey === "string" ? log.source.verifierKey : "";
      const report = verifyAuditBundle(readAuditBundleFiles(log.files), { trustedKeys: [key] });
      if (!report.ok) problems.push(...report.problems.map((p) => `imported audit log ${log.position}: ${p.message}`));
      imported.push({ ...log, events: report.events, verifiedTreeSize: report.verifiedTreeSize });
    } catch (error) {
      problems.push(`imported audit log ${log.position}: ${(error as Error).message}`);
    }
  }
  if (problems.length > 0 || !audit) throw new ImportRefused(`The archive was refused, nothing was imported: ${problems.join("; ")}`, problems);
  return {
    manifest: v.manifest,
    config: config as Config,
    keyFromArchive: v.key.fromArchive,
    verifierKey: v.key.verifierKey,
    audit,
    imported,
    digests: new Map(v.manifest.files.map((f) => [f.path, f.sha256])),
  };
}

// ─── Step 2: the configuration, one transaction ──────────────────────────────

interface Mapping {
  orgId: string;
  deployments: Map<string, string>;
  apiKeys: Map<string, string>;
  regions: Map<string, string>;
  /** The members' invitation mails, queued when the import completes. */
  invitationMails: { to: string; mail: RenderedMail }[];
}

async function importConfiguration(tx: Tx, archive: VerifiedArchive, actor: Actor, slug: string, result: ImportResult): Promise<Mapping> {
  const { config, manifest } = archive;
  const org = config["organization.json"];
  const inviter = accountableUserId(actor);
  if (await tx.organization.findUnique({ where: { slug }, select: { id: true } })) {
    throw new ImportRefused(`The slug ${slug} is taken in this installation: choose another slug for the imported organisation`, [`slug ${slug} taken`], "CONFLICT", "slug");
  }
  const created = await tx.organization.create({
    data: {
      slug,
      name: org.name,
      status: "SUSPENDED",
      statusReason: "Import in progress",
      monthlyBudgetCents: org.budget.monthlyBudgetCents,
      budgetMode: org.budget.mode,
      budgetAlertThresholds: org.budget.alertThresholds,
    },
  });
  const orgId = created.id;
  result.organization = { id: orgId, slug, name: created.name };
  const mapping: Mapping = { orgId, deployments: new Map(), apiKeys: new Map(), regions: new Map(), invitationMails: [] };
  await recordAudit(tx, actor, {
    orgId,
    action: "organization.imported",
    targetType: "Organization",
    targetId: orgId,
    after: { name: org.name, slug, source: { installation: manifest.source.installation, organization: manifest.organization, exportedAt: manifest.exportedAt, enclaveVersion: manifest.source.enclaveVersion } },
  });
  if (org.webhook) result.unmapped.push({ kind: "webhook", item: org.webhook.url, reason: "Webhooks are not re-created: their signing secret belongs to the source installation; set the webhook again" });

  // Members: invited again, each through a link of their own, sent to them by mail.
  const inviterName = (await tx.user.findUnique({ where: { id: inviter }, select: { name: true } }))?.name;
  const seen = new Set<string>();
  const expiresAt = new Date(Date.now() + INVITATION_TTL_DAYS * 86_400_000);
  for (const m of [...config["members.json"].members, ...config["members.json"].pendingInvitations]) {
    const email = m.email.trim().toLowerCase();
    if (seen.has(email)) continue;
    seen.add(email);
    const { token, tokenHash } = newToken("inv");
    const invitation = await tx.invitation.create({ data: { orgId, email, role: m.role, tokenHash, invitedById: inviter, expiresAt } });
    await recordAudit(tx, actor, { orgId, action: "member.invited", targetType: "Invitation", targetId: invitation.id, after: { email, role: m.role, imported: true } });
    // Mailed as a console invitation is, but only by the transaction that completes the import: an
    // import undone half-way (its usage or traces refused) must not have sent anyone a link.
    mapping.invitationMails.push({ to: email, mail: invitationMail({ orgName: created.name, inviterName: inviterName ?? null, role: m.role, acceptUrl: consoleUrl(invitationPath(token)), expiresAt }) });
    result.invitations.push({ email, role: m.role, acceptPath: invitationPath(token) });
  }

  // Regions, GPU types and models of this installation, by their codes.
  const [regions, gpuTypes, models] = await Promise.all([
    tx.region.findMany({ select: { id: true, code: true, jurisdiction: true, certifications: true, extraterritorialExposure: true, status: true } }),
    tx.gpuType.findMany({ select: { id: true, code: true } }),
    tx.catalogModel.findMany({ select: { id: true, slug: true, version: true, artifactSha256: true, fitsGpuTypes: { select: { id: true } } } }),
  ]);
  const regionByCode = new Map(regions.map((r) => [r.code, r]));
  const gpuByCode = new Map(gpuTypes.map((g) => [g.code, g]));
  const modelByRef = new Map(models.map((m) => [`${m.slug}@${m.version}`, m]));

  // Residency policies: regions named by code.
  const policies = new Map<DataClassification, { dataClassification: DataClassification; allowedJurisdictions: string[]; requiredCertifications: string[]; allowedRegionIds: string[]; allowExtraterritorial: boolean }>();
  for (const p of config["residency-policies.json"]) {
    const allowedRegionIds: string[] = [];
    for (const code of p.allowedRegions) {
      const r = regionByCode.get(code);
      if (r) allowedRegionIds.push(r.id);
      else result.unmapped.push({ kind: "region", item: code, reason: `Region ${code}, allowed by the ${p.dataClassification} residency policy, does not exist here: the policy allows the others only` });
    }
    if (p.allowedRegions.length > 0 && allowedRegionIds.length === 0) {
      result.unmapped.push({ kind: "policy", item: p.dataClassification, reason: `None of the regions the ${p.dataClassification} policy allowed exists here: it allows no region until you edit it` });
    }
    const row = { dataClassification: p.dataClassification, allowedJurisdictions: p.allowedJurisdictions, requiredCertifications: p.requiredCertifications, allowedRegionIds, allowExtraterritorial: p.allowExtraterritorial };
    // A policy whose regions all vanished must not become "every region": keep an impossible region list.
    const stored = p.allowedRegions.length > 0 && allowedRegionIds.length === 0 ? { ...row, allowedRegionIds: ["(none: imported regions missing)"] } : row;
    await tx.residencyPolicy.create({ data: { orgId, ...stored } });
    policies.set(p.dataClassification, stored);
    await recordAudit(tx, actor, { orgId, action: "residency.policy_set", targetType: "ResidencyPolicy", targetId: p.dataClassification, after: { ...stored, imported: true } });
  }

  // Deployments: specs only, STOPPED, nothing reserved.
  for (const d of config["deployments.json"]) {
    const region = regionByCode.get(d.region.code);
    if (region) mapping.regions.set(d.region.id, region.id);
    if (d.deleted) continue;
    const model = modelByRef.get(`${d.model.slug}@${d.model.version}`);
    const gpu = gpuByCode.get(d.gpuType);
    const missing: UnmappedItem[] = [];
    if (!model) missing.push({ kind: "model", item: `${d.model.slug} ${d.model.version}`, reason: `Deployment ${d.name}: model ${d.model.name} ${d.model.version} is not in this catalog` });
    if (!region) missing.push({ kind: "region", item: d.region.code, reason: `Deployment ${d.name}: region ${d.region.code} (${d.region.name}) does not exist here` });
    if (!gpu) missing.push({ kind: "gpu-type", item: d.gpuType, reason: `Deployment ${d.name}: GPU type ${d.gpuType} does not exist here` });
    if (missing.length > 0 || !model || !region || !gpu) {
      result.unmapped.push(...missing);
      continue;
    }
    const notes: string[] = [];
    if (d.model.artifactSha256 && model.artifactSha256 && d.model.artifactSha256 !== model.artifactSha256) notes.push(`the catalog's artifact digest here (${model.artifactSha256.slice(0, 12)}…) differs from the source's (${d.model.artifactSha256.slice(0, 12)}…)`);
    if (!model.fitsGpuTypes.some((g) => g.id === gpu.id)) notes.push(`${d.model.name} does not fit ${d.gpuType} in this catalog`);
    const verdict = evaluateResidency(d.dataClassification, policies.get(d.dataClassification) ?? null, region);
    if (!verdict.allowed) notes.push(...verdict.reasons);
    const row = await tx.deployment.create({
      data: {
        orgId,
        name: d.name,
        catalogModelId: model.id,
        regionId: region.id,
        gpuTypeId: gpu.id,
        gpusPerReplica: d.gpusPerReplica,
        replicas: d.replicas,
        minReplicas: Math.min(d.minReplicas, d.replicas),
        maxReplicas: Math.max(d.maxReplicas, d.replicas),
        dataClassification: d.dataClassification,
        desiredState: "STOPPED",
        phase: "STOPPED",
        reservedGpus: 0,
        createdById: inviter,
        events: { create: { type: "Normal", reason: "Imported", message: `Imported from ${manifest.source.installation}, stopped: starting it reserves ${d.replicas * d.gpusPerReplica} ${d.gpuType} GPU(s) against this organisation's quota` } },
      },
    });
    mapping.deployments.set(d.id, row.id);
    if (d.autoscaling) await tx.autoscalingPolicy.create({ data: { deploymentId: row.id, ...d.autoscaling } });
    await recordAudit(tx, actor, {
      orgId,
      action: "deployment.created",
      targetType: "Deployment",
      targetId: row.id,
      after: {
        name: d.name,
        model: model.id,
        region: d.region.code,
        gpuType: d.gpuType,
        gpusPerReplica: d.gpusPerReplica,
        replicas: d.replicas,
        dataClassification: d.dataClassification,
        desiredState: "STOPPED",
        ...(d.autoscaling ? { autoscaling: { ...d.autoscaling, minReplicas: Math.min(d.minReplicas, d.replicas), maxReplicas: Math.max(d.maxReplicas, d.replicas) } } : {}),
        imported: true,
      },
    });
    result.deployments.push({ name: d.name, id: row.id, state: "STOPPED", residency: notes });
  }

  // Routes: over the deployments that were imported, in the same order; a member left behind is named.
  for (const r of config["model-routes.json"]) {
    const members = r.members.flatMap((m) => {
      const id = mapping.deployments.get(m.deploymentId);
      if (!id) result.unmapped.push({ kind: "route", item: `${r.name} → ${m.deployment ?? m.deploymentId}`, reason: `Route ${r.name}: its member ${m.deployment ?? m.deploymentId} was not imported, so the route does not include it` });
      return id ? [{ deploymentId: id, weight: m.weight, name: m.deployment }] : [];
    });
    if (members.length === 0) {
      result.unmapped.push({ kind: "route", item: r.name, reason: `Route ${r.name}: none of its deployments was imported; not recreated` });
      continue;
    }
    const row = await tx.modelRoute.create({
      data: { orgId, name: r.name, mode: r.mode, dataClassification: r.dataClassification, maxInFlightPerReplica: r.maxInFlightPerReplica, members: { create: members.map((m, position) => ({ deploymentId: m.deploymentId, weight: m.weight, position })) } },
    });
    await recordAudit(tx, actor, {
      orgId,
      action: "model_route.created",
      targetType: "ModelRoute",
      targetId: row.id,
      after: { ...modelRouteAuditView(r, members, new Map(members.map((m) => [m.deploymentId, { name: m.name ?? m.deploymentId }]))), imported: true },
    });
    result.routes.push({ name: r.name, id: row.id, members: members.map((m) => m.name ?? m.deploymentId) });
  }

  // Quotas belong to the platform: asked for again, decided by a platform admin here.
  for (const q of config["quotas.json"]) {
    if (q.limitGpus === 0) continue;
    const region = regionByCode.get(q.region);
    const gpu = gpuByCode.get(q.gpuType);
    if (!region || !gpu) {
      result.unmapped.push({ kind: "quota", item: `${q.gpuType} in ${q.region}`, reason: `Quota of ${q.limitGpus} ${q.gpuType} GPU(s) in ${q.region}: ${!region ? "the region" : "the GPU type"} does not exist here` });
      continue;
    }
    const request = await tx.quotaRequest.create({
      data: { orgId, regionId: region.id, gpuTypeId: gpu.id, additionalGpus: q.limitGpus, justification: `Imported from ${manifest.source.installation}, where the organisation had a quota of ${q.limitGpus} GPU(s)`, requestedById: inviter },
    });
    await recordAudit(tx, actor, { orgId, action: "quota.requested", targetType: "QuotaRequest", targetId: request.id, after: { region: q.region, gpuType: q.gpuType, additionalGpus: q.limitGpus, imported: true } });
    result.quotaRequests.push({ region: q.region, gpuType: q.gpuType, gpus: q.limitGpus });
  }

  // API keys: new secrets, same names, scopes, limits and budgets. Revoked and expired keys stay behind.
  const now = Date.now();
  for (const k of config["api-keys.json"]) {
    if (k.revokedAt || (k.expiresAt && Date.parse(k.expiresAt) <= now)) {
      result.unmapped.push({ kind: "api-key", item: `${k.name} (${k.prefix})`, reason: k.revokedAt ? "Revoked at the source: not re-issued" : "Expired at the source: not re-issued" });
      continue;
    }
    const allowedDeploymentIds: string[] = [];
    for (const a of k.allowedDeployments) {
      const id = mapping.deployments.get(a.id);
      if (id) allowedDeploymentIds.push(id);
      else result.unmapped.push({ kind: "deployment", item: a.name ?? a.id, reason: `API key ${k.name} was limited to deployment ${a.name ?? a.id}, which was not imported` });
    }
    if (k.allowedDeployments.length > 0 && allowedDeploymentIds.length === 0) {
      result.unmapped.push({ kind: "api-key", item: `${k.name} (${k.prefix})`, reason: "None of the deployments it was limited to was imported: not re-issued (it would have opened every deployment)" });
      continue;
    }
    let secret = generateApiKey();
    while (await tx.apiKey.findFirst({ where: { OR: [{ prefix: secret.prefix }, { previousPrefix: secret.prefix }] }, select: { id: true } })) secret = generateApiKey();
    const row = await tx.apiKey.create({
      data: {
        orgId,
        name: k.name,
        prefix: secret.prefix,
        secretHash: secret.secretHash,
        scopes: k.scopes,
        allowedDeploymentIds,
        expiresAt: k.expiresAt ? new Date(k.expiresAt) : null,
        rateLimitRpm: k.rateLimitRpm,
        rateLimitTpm: k.rateLimitTpm,
        monthlyBudgetCents: k.monthlyBudgetCents,
        captureContent: k.captureContent,
        createdById: inviter,
      },
    });
    mapping.apiKeys.set(k.id, row.id);
    await recordAudit(tx, actor, { orgId, action: "api_key.created", targetType: "ApiKey", targetId: row.id, after: { name: k.name, prefix: secret.prefix, replacesPrefix: k.prefix, scopes: k.scopes, imported: true } });
    result.apiKeys.push({ name: k.name, oldPrefix: k.prefix, newPrefix: secret.prefix, key: secret.key });
  }

  // Guardrail policies: the defaults, then the overrides of what was imported.
  const g = config["guardrail-policies.json"];
  if (g.defaults) {
    let judge: Prisma.InputJsonValue | typeof Prisma.DbNull = Prisma.DbNull;
    if (g.defaults.judge?.kind === "http") judge = { kind: "http", url: g.defaults.judge.url };
    else if (g.defaults.judge?.kind === "deployment") {
      const id = g.defaults.judge.deploymentId ? mapping.deployments.get(g.defaults.judge.deploymentId) : undefined;
      if (id) judge = { kind: "deployment", deploymentId: id };
      else result.unmapped.push({ kind: "judge", item: g.defaults.judge.deployment ?? "?", reason: "The groundedness judge deployment was not imported: the built-in check only" });
    }
    await tx.guardrailPolicy.create({ data: { orgId, rules: g.defaults.rules, piiTypes: g.defaults.piiTypes, judge, groundedThreshold: g.defaults.groundedThreshold } });
  }
  for (const o of g.deployments) {
    const id = mapping.deployments.get(o.deploymentId);
    if (id) await tx.guardrailPolicy.create({ data: { orgId, deploymentId: id, rules: o.rules } });
  }
  for (const o of g.apiKeys) {
    const id = mapping.apiKeys.get(o.apiKey.id);
    if (id) await tx.guardrailPolicy.create({ data: { orgId, apiKeyId: id, rules: o.rules } });
  }
  if (g.defaults || g.deployments.length || g.apiKeys.length) {
    await recordAudit(tx, actor, { orgId, action: "guardrails.set", targetType: "Organization", targetId: orgId, after: { defaults: g.defaults ? { rules: g.defaults.rules, piiTypes: g.defaults.piiTypes } : null, overrides: g.deployments.length + g.apiKeys.length, imported: true } });
  }

  // The source's audit log, read-only, as verified; logs it had imported itself follow it.
  const logs = [
    { source: { installation: manifest.source.installation, verifierKey: archive.verifierKey, chain: readChain(archive.audit.files), exportedAt: manifest.exportedAt }, files: archive.audit.files, events: archive.audit.events, verifiedTreeSize: archive.audit.verifiedTreeSize },
    ...archive.imported.map((l) => ({ source: l.source, files: l.files, events: l.events, verifiedTreeSize: l.verifiedTreeSize })),
  ];
  for (const [position, log] of logs.entries()) {
    await tx.importedAuditLog.create({
      data: {
        orgId,
        position,
        sourceInstallation: String(log.source.installation ?? "unknown"),
        sourceVerifierKey: String(log.source.verifierKey ?? ""),
        sourceChain: String(log.source.chain ?? ""),
        sourceExportedAt: new Date(String(log.source.exportedAt ?? manifest.exportedAt)),
        events: log.events,
        verifiedTreeSize: log.verifiedTreeSize,
        files: Object.fromEntries(log.files),
      },
    });
  }
  result.counts.auditEvents = archive.audit.events;
  result.counts.importedAuditLogs = logs.length;
  return mapping;
}

function readChain(files: Map<string, string>): string {
  try {
    return (JSON.parse(files.get("audit/proofs.json") ?? "{}") as { chain?: string }).chain ?? "";
  } catch {
    return "";
  }
}

// ─── Step 3: usage and traces, in batches ────────────────────────────────────

const USAGE_INSERT = `INSERT INTO "UsageRecord" ("createdAt", id, "orgId", "apiKeyId", "deploymentId", endpoint, "tokensIn", "tokensOut", "latencyMs", "ttftMs", status, stream, "costMicroEur", guardrails)
SELECT t.at, t.id::uuid, $1, t.k, t.d, t.e, t.tin, t.tout, t.lat::real, t.ttft::real, t.st::smallint, t.s, t.c, t.g::smallint[]
FROM unnest($2::timestamp[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::int[], $9::float8[], $10::float8[], $11::int[], $12::bool[], $13::int[], $14::text[])
  AS t(at, id, k, d, e, tin, tout, lat, ttft, st, s, c, g)
ON CONFLICT ("createdAt", id) DO NOTHING`;

const TRACE_INSERT = `INSERT INTO "Trace" ("spanId", "startedAt", "traceId", "orgId", "requestId", "recordId", "apiKeyId", "deploymentId", "regionId", model, endpoint,
  status, "errorCode", "durationMs", "ttftMs", "tokensIn", "tokensOut", "costMicroEur", "dataClass", stream, "recordZlib")
SELECT t.span, timestamp 'epoch' + t.started * interval '1 millisecond', t.trace, $1, t.req, t.rec, t.k, t.d, t.r, t.model, t.e,
  t.st, t.err, t.dur::real, t.ttft::real, t.tin, t.tout, t.c, t.dc, t.s, t.record
FROM unnest($2::text[], $3::float8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int[], $13::text[],
  $14::float8[], $15::float8[], $16::int[], $17::int[], $18::int[], $19::text[], $20::bool[], $21::bytea[])
  AS t(span, started, trace, req, rec, k, d, r, model, e, st, err, dur, ttft, tin, tout, c, dc, s, record)
ON CONFLICT ("spanId", "startedAt") DO NOTHING`;

async function insertUsage(client: pg.Client, orgId: string, rows: UsageRow[], mapping: Mapping): Promise<number> {
  const cols: unknown[][] = Array.from({ length: 13 }, () => []);
  for (const r of rows) {
    cols[0].push(r.createdAt);
    cols[1].push(r.id);
    cols[2].push(r.apiKeyId ? (mapping.apiKeys.get(r.apiKeyId) ?? null) : null);
    cols[3].push(r.deploymentId ? (mapping.deployments.get(r.deploymentId) ?? null) : null);
    cols[4].push(r.endpoint);
    cols[5].push(r.tokensIn);
    cols[6].push(r.tokensOut);
    cols[7].push(r.latencyMs);
    cols[8].push(r.ttftMs);
    cols[9].push(r.status);
    cols[10].push(r.stream);
    cols[11].push(r.costMicroEur);
    cols[12].push(r.guardrails === null ? null : `{${r.guardrails.join(",")}}`);
  }
  const { rowCount } = await client.query(USAGE_INSERT, [orgId, ...cols]);
  return rowCount ?? 0;
}

/** The record with this installation's ids (the source's ids of what was not imported are dropped from its columns). */
function remapTrace(record: TraceRecord, mapping: Mapping): { record: TraceRecord; json: string } {
  const replace = new Map<string, string>([[record.orgId, mapping.orgId], ...mapping.deployments, ...mapping.apiKeys, ...mapping.regions]);
  const { content: _content, ...stored } = record;
  const json = JSON.stringify(stored).replace(/"([A-Za-z0-9_-]{8,64})"/g, (whole, id: string) => (replace.has(id) ? `"${replace.get(id)}"` : whole));
  const mapped = JSON.parse(json) as TraceRecord;
  mapped.orgId = mapping.orgId;
  mapped.apiKeyId = record.apiKeyId ? (mapping.apiKeys.get(record.apiKeyId) ?? null) : null;
  mapped.deploymentId = record.deploymentId ? (mapping.deployments.get(record.deploymentId) ?? null) : null;
  mapped.regionId = record.regionId ? (mapping.regions.get(record.regionId) ?? null) : null;
  return { record: mapped, json: JSON.stringify(mapped) };
}

async function insertTraces(client: pg.Client, orgId: string, records: TraceRecord[], mapping: Mapping): Promise<number> {
  const cols: unknown[][] = Array.from({ length: 20 }, () => []);
  for (const original of records) {
    const { record: r, json } = remapTrace(original, mapping);
    const values = [r.spanId, r.startedAt, r.traceId, r.requestId, r.recordId, r.apiKeyId, r.deploymentId, r.regionId, r.model, r.endpoint, r.status, r.errorCode, r.durationMs, r.ttftMs, r.tokensIn, r.tokensOut, Math.round(r.costMicroEur), r.dataClass, r.stream === true, compressTraceRecord(json)];
    values.forEach((v, i) => cols[i].push(v ?? null));
  }
  const { rowCount } = await client.query(TRACE_INSERT, [orgId, ...cols]);
  return rowCount ?? 0;
}

/** Removes every row an interrupted import wrote for `orgId` (it was never activated). */
export async function discardImportedOrganization(orgId: string): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is not set");
  const client = new pg.Client({ connectionString: url, application_name: "enclave-import-discard" });
  await client.connect();
  try {
    await client.query("BEGIN");
    const org = await client.query(`SELECT status, "statusReason" FROM "Organization" WHERE id = $1 FOR UPDATE`, [orgId]);
    if (org.rowCount === 0) {
      await client.query("ROLLBACK");
      return;
    }
    if (org.rows[0].statusReason !== "Import in progress") throw new Error("refusing to discard an organisation whose import has completed");
    for (const table of ["UsageRecord", "UsageDelta", "UsageHourly", "UsageDaily", "UsageHourlyTotal", "UsageDailyTotal", "Trace", "UsageHourSeal"]) {
      await client.query(`DELETE FROM "${table}" WHERE "orgId" = $1`, [orgId]);
    }
    for (const table of ["AuditEvent", "AuditChainHead", "AuditCheckpoint", "AuditChainVerification"]) await client.query(`DELETE FROM "${table}" WHERE chain = $1`, [chainOf(orgId)]);
    await client.query(`DELETE FROM "Organization" WHERE id = $1`, [orgId]);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
}

/**
 * Imports the archive at `file` for `actor` (a platform administrator). Returns what was created
 * and what could not be mapped; throws ImportRefused (nothing written) for a tampered, unsigned or
 * malformed archive, or a taken slug.
 */
export async function importOrganization(file: string, actor: Actor, options: ImportOptions = {}): Promise<ImportResult> {
  options.onProgress?.({ stage: "verify" });
  const archive = await verifyArchiveForImport(file, options.trustedKey);
  const slug = (options.slug ?? archive.config["organization.json"].slug).trim().toLowerCase();
  if (!SLUG.test(slug)) throw new ImportRefused(`"${slug.slice(0, 60)}" is not a slug: lowercase letters, digits and hyphens, at most 40`, ["bad slug"], "BAD_REQUEST", "slug");
  const result: ImportResult = {
    organization: { id: "", slug, name: "" },
    source: {
      installation: archive.manifest.source.installation,
      verifierKey: archive.verifierKey,
      exportedAt: archive.manifest.exportedAt,
      organization: archive.manifest.organization,
      enclaveVersion: archive.manifest.source.enclaveVersion,
      keyFromArchive: archive.keyFromArchive,
    },
    invitations: [],
    apiKeys: [],
    deployments: [],
    routes: [],
    quotaRequests: [],
    unmapped: [],
    counts: { usageRecords: 0, traces: 0, auditEvents: 0, importedAuditLogs: 0 },
    ids: { organization: [archive.manifest.organization.id, ""], deployments: {}, apiKeys: {}, regions: {} },
  };
  options.onProgress?.({ stage: "configuration" });
  const mapping = await db.$transaction((tx) => importConfiguration(tx, archive, actor, slug, result), { timeout: 120_000, maxWait: 10_000 });
  result.ids = {
    organization: [archive.manifest.organization.id, mapping.orgId],
    deployments: Object.fromEntries(mapping.deployments),
    apiKeys: Object.fromEntries(mapping.apiKeys),
    regions: Object.fromEntries(mapping.regions),
  };

  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is not set");
  const client = new pg.Client({ connectionString: url, options: "-c TimeZone=UTC", application_name: "enclave-import" });
  await client.connect();
  try {
    const seen = await readArchive(createReadStream(file), async ({ path, stream }) => {
      if (path === "usage/focus.csv") {
        options.onProgress?.({ stage: "usage", rows: 0 });
        let header: Map<string, number> | null = null;
        let batch: UsageRow[] = [];
        const flush = async () => {
          if (batch.length === 0) return;
          const inserted = await insertUsage(client, mapping.orgId, batch, mapping);
          if (inserted !== batch.length) throw new Error(`${batch.length - inserted} usage record(s) of the archive already exist in this installation (imported here before?)`);
          result.counts.usageRecords += inserted;
          options.onProgress?.({ stage: "usage", rows: result.counts.usageRecords });
          batch = [];
        };
        for await (const record of csvRecords(stream)) {
          if (!header) {
            header = new Map(record.map((name, i) => [name, i]));
            continue;
          }
          batch.push(usageRowFromFocus(record, header));
          if (batch.length >= BATCH) await flush();
        }
        await flush();
      } else if (path.startsWith("traces/") && path.endsWith(".jsonl")) {
        options.onProgress?.({ stage: "traces", rows: 0 });
        let batch: TraceRecord[] = [];
        const flush = async () => {
          if (batch.length === 0) return;
          const inserted = await insertTraces(client, mapping.orgId, batch, mapping);
          if (inserted !== batch.length) throw new Error(`${batch.length - inserted} trace(s) of the archive already exist in this installation (imported here before?)`);
          result.counts.traces += inserted;
          options.onProgress?.({ stage: "traces", rows: result.counts.traces });
          batch = [];
        };
        for await (const line of textLines(stream)) {
          batch.push(traceRecordFromOtlpLine(line));
          if (batch.length >= BATCH / 5) await flush();
        }
        await flush();
      } else {
        stream.resume();
        await new Promise<void>((resolve, reject) => stream.on("end", resolve).on("error", reject));
      }
    });
    // The file was verified before: read again, it must still be the same bytes.
    for (const entry of seen) {
      const expected = archive.digests.get(entry.path);
      if (expected !== undefined && expected !== entry.sha256) throw new Error(`${entry.path} changed while it was imported`);
    }
    options.onProgress?.({ stage: "rollup" });
    await rollUpUsage({ client });
  } catch (error) {
    await client.end().catch(() => {});
    await discardImportedOrganization(mapping.orgId);
    if (error instanceof DomainError) throw error;
    throw new ImportRefused(`The import failed and was undone, nothing remains of it: ${(error as Error).message}`, [(error as Error).message]);
  }
  await client.end().catch(() => {});

  await db.$transaction(async (tx) => {
    await tx.organization.update({ where: { id: mapping.orgId }, data: { status: "ACTIVE", statusReason: null } });
    for (const { to, mail } of mapping.invitationMails) await queueMail(tx, { kind: "INVITATION", orgId: mapping.orgId, to: [to], mail });
    await recordAudit(tx, actor, {
      orgId: mapping.orgId,
      action: "organization.import_completed",
      targetType: "Organization",
      targetId: mapping.orgId,
      after: { ...result.counts, deployments: result.deployments.length, apiKeys: result.apiKeys.length, invitations: result.invitations.length, unmapped: result.unmapped.length },
    });
  });
  return result;
}
