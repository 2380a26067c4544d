/**
 * Exports (docs/export-format.md): everything an organisation has, in one signed archive that
 * another Enclave imports (server/exports/import.ts). Configuration from the domain tables, usage
 * as FOCUS CSV and traces as OTLP JSON read by keyset pages and written through streams (flat
 * memory whatever the size), the audit log from server/audit (events, checkpoints, proofs), then a
 * manifest of every file's SHA-256 signed with the installation's key.
 *
 * `createExport` writes the archive into the installation's export directory (EXPORTS_DIR, default
 * .data/exports) and records it ("OrgExport") with an audit event; `writeExport` writes one to any
 * stream (the `org:export` command).
 */
import { randomUUID } from "node:crypto";
import { createWriteStream, readFileSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { Writable } from "node:stream";
import pg from "pg";
import { auditBundleFiles } from "../audit/verify";
import { chainOf, createCheckpoint, loadAuditBundle } from "../audit/log";
import { installationSigner } from "../audit/keys";
import { db } from "../db";
import { notFound } from "../errors";
import { ArchiveWriter, csvLine, spool, type ExportManifest } from "../exports/archive";
import { FOCUS_COLUMNS, focusRow, type FocusContext, type UsageRow } from "../exports/focus";
import { otlpJsonLine } from "../exports/otlp-json";
import type { TraceRecord } from "../gateway/trace";
import { recordAudit, type Actor } from "./audit";
import { storedTraceRecord } from "./traces";

/** Rows per keyset page of usage and traces. */
const PAGE = 10_000;

/**
 * Where archives are written: runtime data, not source. The `turbopackIgnore` comments keep
 * `next build` from tracing (and warning about) the whole project for these paths.
 */
export function exportsDirectory(): string {
  return path.resolve(/*turbopackIgnore: true*/ process.env.EXPORTS_DIR || path.join(process.cwd(), ".data", "exports"));
}

export function enclaveVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(process.cwd(), "package.json"), "utf8")) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
const json = (value: unknown) => `${JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2)}\n`;

export interface ExportProgress {
  stage: "configuration" | "usage" | "traces" | "audit" | "manifest";
  rows?: number;
}

export interface ExportSummary {
  bytes: number;
  sha256: string;
  manifest: ExportManifest;
  counts: { usageRecords: number; traces: number; auditEvents: number };
}

/** The configuration files (small: read whole). */
async function configurationFiles(orgId: string) {
  const org = await db.organization.findUnique({ where: { id: orgId }, include: { webhook: { select: { url: true, enabled: true } } } });
  if (!org) throw notFound("Organisation");
  const [memberships, invitations, residency, guardrails, quotas, deployments, apiKeys, regions, modelRoutes] = await Promise.all([
    db.membership.findMany({ where: { orgId }, orderBy: { createdAt: "asc" }, select: { role: true, createdAt: true, user: { select: { email: true, name: true } } } }),
    db.invitation.findMany({ where: { orgId, status: "PENDING", expiresAt: { gt: new Date() } }, orderBy: { createdAt: "asc" }, select: { email: true, role: true, createdAt: true, expiresAt: true } }),
    db.residencyPolicy.findMany({ where: { orgId }, orderBy: { dataClassification: "asc" } }),
    db.guardrailPolicy.findMany({ where: { orgId }, orderBy: { createdAt: "asc" } }),
    db.quota.findMany({ where: { orgId }, include: { region: { select: { code: true } }, gpuType: { select: { code: true } } } }),
    db.deployment.findMany({
      where: { orgId },
      orderBy: { createdAt: "asc" },
      include: {
        catalogModel: { select: { slug: true, version: true, name: true, origin: true, artifactUri: true, artifactSha256: true } },
        region: { select: { id: true, code: true, name: true } },
        gpuType: { select: { code: true } },
        autoscaling: { select: { enabled: true, targetInFlight: true, scaleUpWindowSeconds: true, scaleDownWindowSeconds: true, idleTimeoutSeconds: true } },
      },
    }),
    // Field by field: a secret hash can never slip into the archive.
    db.apiKey.findMany({
      where: { orgId },
      orderBy: { createdAt: "asc" },
      select: {
        id: true, name: true, prefix: true, scopes: true, allowedDeploymentIds: true, expiresAt: true, rateLimitRpm: true, rateLimitTpm: true,
        monthlyBudgetCents: true, captureContent: true, revokedAt: true, lastUsedAt: true, createdAt: true,
      },
    }),
    db.region.findMany({ select: { id: true, code: true } }),
    db.modelRoute.findMany({ where: { orgId }, orderBy: { createdAt: "asc" }, include: { members: { orderBy: { position: "asc" }, select: { deploymentId: true, weight: true } } } }),
  ]);
  const regionCode = new Map(regions.map((r) => [r.id, r.code]));
  const deploymentName = new Map(deployments.map((d) => [d.id, d.name]));
  const keyRef = new Map(apiKeys.map((k) => [k.id, { id: k.id, name: k.name, prefix: k.prefix }]));
  const defaults = guardrails.find((g) => !g.deploymentId && !g.apiKeyId) ?? null;
  const judge = defaults?.judge as { kind: string; deploymentId?: string; url?: string } | null | undefined;
  const live = (d: (typeof deployments)[number]) => !d.deletedAt && d.desiredState !== "DELETED" && d.phase !== "DELETED";

  const files: [string, unknown][] = [
    [
      "organization.json",
      {
        id: org.id,
        slug: org.slug,
        name: org.name,
        status: org.status,
        createdAt: iso(org.createdAt),
        budget: { monthlyBudgetCents: org.monthlyBudgetCents, mode: org.budgetMode, alertThresholds: org.budgetAlertThresholds },
        // The URL only: the signing secret is derived from this installation's key and is not exported.
        webhook: org.webhook ? { url: org.webhook.url, enabled: org.webhook.enabled } : null,
      },
    ],
    [
      "members.json",
      {
        members: memberships.map((m) => ({ email: m.user.email, name: m.user.name, role: m.role, joinedAt: iso(m.createdAt) })),
        pendingInvitations: invitations.map((i) => ({ email: i.email, role: i.role, invitedAt: iso(i.createdAt), expiresAt: iso(i.expiresAt) })),
      },
    ],
    [
      "residency-policies.json",
      residency.map((p) => ({
        dataClassification: p.dataClassification,
        allowedJurisdictions: p.allowedJurisdictions,
        requiredCertifications: p.requiredCertifications,
        allowedRegions: p.allowedRegionIds.map((id) => regionCode.get(id) ?? id),
        allowExtraterritorial: p.allowExtraterritorial,
        updatedAt: iso(p.updatedAt),
      })),
    ],
    [
      "guardrail-policies.json",
      {
        defaults: defaults
          ? {
              rules: defaults.rules,
              piiTypes: defaults.piiTypes,
              judge: judge ? (judge.kind === "deployment" ? { kind: "deployment", deployment: deploymentName.get(judge.deploymentId ?? "") ?? null, deploymentId: judge.deploymentId } : judge) : null,
              groundedThreshold: defaults.groundedThreshold,
            }
          : null,
        deployments: guardrails.filter((g) => g.deploymentId).map((g) => ({ deploymentId: g.deploymentId, deployment: deploymentName.get(g.deploymentId!) ?? null, rules: g.rules })),
        apiKeys: guardrails.filter((g) => g.apiKeyId).map((g) => ({ apiKey: keyRef.get(g.apiKeyId!) ?? { id: g.apiKeyId }, rules: g.rules })),
      },
    ],
    ["quotas.json", quotas.map((q) => ({ region: q.region.code, gpuType: q.gpuType.code, limitGpus: q.limitGpus, allocatedGpus: q.allocatedGpus }))],
    [
      "deployments.json",
      deployments.map((d) => ({
        id: d.id,
        name: d.name,
        model: { slug: d.catalogModel.slug, version: d.catalogModel.version, name: d.catalogModel.name, origin: d.catalogModel.origin, artifactUri: d.catalogModel.artifactUri, artifactSha256: d.catalogModel.artifactSha256 },
        region: { id: d.region.id, code: d.region.code, name: d.region.name },
        gpuType: d.gpuType.code,
        gpusPerReplica: d.gpusPerReplica,
        replicas: d.replicas,
        minReplicas: d.minReplicas,
        maxReplicas: d.maxReplicas,
        dataClassification: d.dataClassification,
        desiredState: d.desiredState,
        phase: d.phase,
        revision: d.revision,
        // Min and max replicas are the deployment's own (above); the policy adds the target and windows.
        autoscaling: d.autoscaling,
        deleted: !live(d),
        createdAt: iso(d.createdAt),
        deletedAt: iso(d.deletedAt),
      })),
    ],
    [
      "model-routes.json",
      modelRoutes.map((r) => ({
        id: r.id,
        name: r.name,
        mode: r.mode,
        dataClassification: r.dataClassification,
        maxInFlightPerReplica: r.maxInFlightPerReplica,
        // In preference order.
        members: r.members.map((m) => ({ deploymentId: m.deploymentId, deployment: deploymentName.get(m.deploymentId) ?? null, weight: m.weight })),
        createdAt: iso(r.createdAt),
        updatedAt: iso(r.updatedAt),
      })),
    ],
    [
      "api-keys.json",
      apiKeys.map((k) => ({
        id: k.id,
        name: k.name,
        prefix: k.prefix,
        scopes: k.scopes,
        allowedDeployments: k.allowedDeploymentIds.map((id) => ({ id, name: deploymentName.get(id) ?? null })),
        expiresAt: iso(k.expiresAt),
        rateLimitRpm: k.rateLimitRpm,
        rateLimitTpm: k.rateLimitTpm,
        monthlyBudgetCents: k.monthlyBudgetCents,
        captureContent: k.captureContent,
        createdAt: iso(k.createdAt),
        revokedAt: iso(k.revokedAt),
        lastUsedAt: iso(k.lastUsedAt),
      })),
    ],
  ];
  const context: FocusContext = {
    org: { id: org.id, name: org.name },
    installation: "",
    deployments: new Map(
      deployments.map((d) => [d.id, { name: d.name, modelSlug: d.catalogModel.slug, modelVersion: d.catalogModel.version, modelOrigin: d.catalogModel.origin, regionCode: d.region.code, regionName: d.region.name }]),
    ),
    apiKeys: new Map(apiKeys.map((k) => [k.id, { name: k.name, prefix: k.prefix }])),
  };
  return { org, files, context };
}

/**
 * Every usage record of the organisation, oldest first, through a server-side cursor (one scan
 * of the primary key, FETCHed a page at a time) inside the caller's snapshot transaction.
 */
async function* usagePages(client: pg.Client, orgId: string): AsyncGenerator<UsageRow[]> {
  await client.query(
    `DECLARE export_usage NO SCROLL CURSOR FOR
     SELECT to_char("createdAt", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt", id::text AS id, "apiKeyId", "deploymentId", endpoint,
            "tokensIn", "tokensOut", "latencyMs", "ttftMs", status, stream, "costMicroEur", guardrails::int[] AS guardrails
     FROM "UsageRecord" WHERE "orgId" = $1 ORDER BY "createdAt", id`,
    [orgId],
  );
  try {
    for (;;) {
      const result: pg.QueryResult<UsageRow> = await client.query<UsageRow>(`FETCH ${PAGE} FROM export_usage`);
      if (result.rows.length === 0) return;
      yield result.rows;
      if (result.rows.length < PAGE) return;
    }
  } finally {
    await client.query("CLOSE export_usage").catch(() => {});
  }
}

interface TracePageRow {
  spanId: string;
  traceId: string;
  started: number;
  requestId: string;
  recordId: string;
  apiKeyId: string | null;
  deploymentId: string | null;
  regionId: string | null;
  model: string | null;
  endpoint: string;
  status: number;
  errorCode: string | null;
  durationMs: number;
  ttftMs: number | null;
  tokensIn: number;
  tokensOut: number;
  costMicroEur: number;
  dataClass: string | null;
  record: string | null;
  recordZlib: Buffer | null;
}

/** Every trace of the organisation as its TraceRecord (without content), oldest first, through a cursor. */
async function* tracePages(client: pg.Client, orgId: string): AsyncGenerator<TraceRecord[]> {
  await client.query(
    `DECLARE export_traces NO SCROLL CURSOR FOR
     SELECT "spanId"::text AS "spanId", "traceId"::text AS "traceId", (extract(epoch FROM "startedAt") * 1000)::float8 AS started,
            "requestId", "recordId", "apiKeyId", "deploymentId", "regionId", model, endpoint, status, "errorCode", "durationMs", "ttftMs",
            "tokensIn", "tokensOut", "costMicroEur", "dataClass", record::text AS record, "recordZlib"
     FROM "Trace" WHERE "orgId" = $1 ORDER BY "startedAt", "spanId"`,
    [orgId],
  );
  const size = Math.floor(PAGE / 4);
  try {
    for (;;) {
      const result: pg.QueryResult<TracePageRow> = await client.query<TracePageRow>(`FETCH ${size} FROM export_traces`);
      const rows: TracePageRow[] = result.rows;
      if (rows.length === 0) return;
      yield rows.map((r) => {
        const read = storedTraceRecord({ record: r.record === null ? null : JSON.parse(r.record), recordZlib: r.recordZlib });
        const stored = (read !== null && typeof read === "object" ? read : {}) as Partial<TraceRecord>;
        return {
          ...stored,
          version: 1,
          traceId: r.traceId,
          spanId: r.spanId,
          parentSpanId: stored.parentSpanId ?? null,
          sampled: stored.sampled ?? true,
          requestId: r.requestId,
          recordId: r.recordId,
          orgId,
          apiKeyId: r.apiKeyId,
          deploymentId: r.deploymentId,
          regionId: r.regionId,
          model: r.model,
          endpoint: r.endpoint,
          stream: stored.stream ?? false,
          dataClass: r.dataClass,
          status: r.status,
          errorCode: r.errorCode,
          startedAt: r.started,
          durationMs: r.durationMs,
          ttftMs: r.ttftMs,
          tokensIn: r.tokensIn,
          tokensOut: r.tokensOut,
          costMicroEur: r.costMicroEur,
          spans: Array.isArray(stored.spans) ? stored.spans : [],
          content: null,
        } as TraceRecord;
      });
      if (rows.length < size) return;
    }
  } finally {
    await client.query("CLOSE export_traces").catch(() => {});
  }
}

/**
 * Writes the organisation's archive to `out`, streaming; large entries are spooled to `workDir`
 * first (a tar entry needs its size before its bytes), then removed.
 */
export async function writeExport(orgId: string, out: Writable, options: { workDir?: string; onProgress?: (p: ExportProgress) => void } = {}): Promise<ExportSummary> {
  const signer = await installationSigner();
  const { org, files, context } = await configurationFiles(orgId);
  context.installation = signer.keyName;
  const workDir = path.join(/*turbopackIgnore: true*/ options.workDir ?? path.join(exportsDirectory(), ".work"), randomUUID());
  await mkdir(workDir, { recursive: true });
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is not set");
  const client = new pg.Client({ connectionString: url, options: "-c TimeZone=UTC", application_name: "enclave-export" });
  await client.connect();
  const writer = new ArchiveWriter(out);
  const counts = { usageRecords: 0, traces: 0, auditEvents: 0 };
  try {
    // One snapshot for everything read with this connection: usage and traces agree with each other.
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    options.onProgress?.({ stage: "configuration" });
    for (const [name, value] of files) await writer.addText(name, json(value));

    options.onProgress?.({ stage: "usage", rows: 0 });
    const usageFile = path.join(workDir, "focus.csv.gz");
    const usage = spool(usageFile);
    await usage.write(csvLine([...FOCUS_COLUMNS]));
    for await (const page of usagePages(client, orgId)) {
      let chunk = "";
      for (const row of page) chunk += csvLine(focusRow(row, context));
      await usage.write(chunk);
      counts.usageRecords += page.length;
      options.onProgress?.({ stage: "usage", rows: counts.usageRecords });
    }
    const usageSpooled = await usage.close();

    options.onProgress?.({ stage: "traces", rows: 0 });
    const tracesFile = path.join(workDir, "traces.jsonl.gz");
    const traces = spool(tracesFile);
    for await (const page of tracePages(client, orgId)) {
      let chunk = "";
      for (const record of page) chunk += `${otlpJsonLine(record)}\n`;
      await traces.write(chunk);
      counts.traces += page.length;
      options.onProgress?.({ stage: "traces", rows: counts.traces });
    }
    const tracesSpooled = await traces.close();
    await client.query("COMMIT");
    // Compressed while they were written (libuv's threads, beside the formatting): only copied here.
    await writer.addSpooled("usage/focus.csv", usageSpooled);
    await writer.addSpooled("traces/traces.jsonl", tracesSpooled);
    await rm(usageFile, { force: true });
    await rm(tracesFile, { force: true });

    options.onProgress?.({ stage: "audit" });
    // Signed up to the last event, so that every event of the archive is under a checkpoint.
    await createCheckpoint(chainOf(orgId), { witness: false });
    const bundle = await loadAuditBundle(chainOf(orgId));
    counts.auditEvents = bundle.events.length;
    for (const file of auditBundleFiles(bundle)) await writer.addText(file.path, file.content);
    // Logs imported from other installations, as they were verified, each under its own folder.
    const imported = await db.importedAuditLog.findMany({ where: { orgId }, orderBy: { position: "asc" } });
    for (const log of imported) {
      const prefix = `audit/imported/${log.position}/`;
      await writer.addText(`${prefix}source.json`, json({ installation: log.sourceInstallation, verifierKey: log.sourceVerifierKey, chain: log.sourceChain, exportedAt: iso(log.sourceExportedAt), events: log.events, verifiedTreeSize: log.verifiedTreeSize }));
      for (const [p, content] of Object.entries(log.files as Record<string, string>)) await writer.addText(`${prefix}${p.replace(/^audit\//, "")}`, content);
    }

    options.onProgress?.({ stage: "manifest" });
    const result = await writer.finish(
      {
        format: "enclave-export/1",
        exportedAt: new Date().toISOString(),
        source: { installation: signer.keyName, verifierKey: signer.verifierKey, enclaveVersion: enclaveVersion() },
        organization: { id: org.id, slug: org.slug, name: org.name },
      },
      signer,
    );
    return { ...result, counts };
  } catch (error) {
    writer.abort(error as Error);
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    await client.end().catch(() => {});
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Writes an archive into the export directory, records it and audits it; returns what the API answers. */
export async function createExport(orgId: string, actor: Actor, options: { onProgress?: (p: ExportProgress) => void } = {}) {
  const dir = exportsDirectory();
  await mkdir(dir, { recursive: true });
  const org = await db.organization.findUnique({ where: { id: orgId }, select: { slug: true } });
  if (!org) throw notFound("Organisation");
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
  const fileName = `${org.slug}-${stamp}-${randomUUID().slice(0, 8)}.tar.gz`;
  const partial = path.join(dir, `${fileName}.partial`);
  let summary: ExportSummary;
  try {
    summary = await writeExport(orgId, createWriteStream(partial), { workDir: path.join(dir, ".work"), onProgress: options.onProgress });
    await rename(partial, path.join(dir, fileName));
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  const row = await db.$transaction(async (tx) => {
    const created = await tx.orgExport.create({
      data: { orgId, fileName, sha256: summary.sha256, bytes: BigInt(summary.bytes), createdById: actor.type === "USER" ? actor.id : (actor.onBehalfOfUserId ?? null), createdByLabel: actor.label },
    });
    await recordAudit(tx, actor, {
      orgId,
      action: "organization.exported",
      targetType: "OrgExport",
      targetId: created.id,
      after: { sha256: summary.sha256, bytes: summary.bytes, files: summary.manifest.files.length, ...summary.counts },
    });
    return created;
  });
  return exportView(row);
}

const exportView = (row: { id: string; sha256: string; bytes: bigint; createdAt: Date; createdByLabel: string; fileName: string }) => ({
  id: row.id,
  sha256: row.sha256,
  bytes: Number(row.bytes),
  createdAt: row.createdAt,
  createdBy: row.createdByLabel,
  fileName: row.fileName,
});

export async function listExports(orgId: string) {
  const rows = await db.orgExport.findMany({ where: { orgId }, orderBy: { createdAt: "desc" }, take: 100 });
  return rows.map(exportView);
}

/** The file of one export of this organisation (another organisation's id is "not found"). */
export async function exportFile(orgId: string, exportId: string) {
  const row = await db.orgExport.findFirst({ where: { id: exportId, orgId } });
  if (!row) throw notFound("Export");
  return { ...exportView(row), path: path.join(/*turbopackIgnore: true*/ exportsDirectory(), row.fileName) };
}
