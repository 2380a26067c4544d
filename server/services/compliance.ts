/**
 * Compliance read models (docs/compliance.md): the audit trail, the organisation's compliance
 * dashboard (`complianceOverview`), the platform administrators' view across organisations
 * (`complianceOverviewAll`), and the last verification of each audit chain. The report for a
 * chosen period is built in compliance-report.ts from the same parts.
 */
import { chainOf, lastWitnessed, latestCheckpoint } from "../audit/log";
import type { Checkpoint } from "../audit/types";
import { db } from "../db";
import { badRequest } from "../errors";
import { AI_ACT_MINIMUM_LOG_DAYS } from "./compliance-report-schema";
import { PLATFORM_CHAIN, verifyAuditChain, type ChainVerification } from "./audit";
import { deploymentCompliance } from "./residency";
import type { DeploymentCompliance } from "./residency-types";
import { usageBreakdown, usageGuardrails, usageWindow, type UsagePeriod } from "./usage";
import { retentionFromEnv } from "./usage-rollup";

export async function auditTrail(chain: { orgId: string | null }, page: { cursor?: string; limit: number }) {
  // A cursor must be an event of this chain: Prisma reads an unknown one as an empty page.
  if (page.cursor && !(await db.auditEvent.findFirst({ where: { id: page.cursor, chain: chain.orgId ?? PLATFORM_CHAIN }, select: { id: true } }))) {
    throw badRequest("This cursor does not point into the list (any more); start again without a cursor", "cursor");
  }
  const events = await db.auditEvent.findMany({
    where: { chain: chain.orgId ?? PLATFORM_CHAIN },
    orderBy: { seq: "desc" },
    take: page.limit + 1,
    ...(page.cursor ? { cursor: { id: page.cursor }, skip: 1 } : {}),
    select: { id: true, seq: true, actorType: true, actorLabel: true, action: true, targetType: true, targetId: true, before: true, after: true, ip: true, createdAt: true, hash: true },
  });
  const hasMore = events.length > page.limit;
  const items = hasMore ? events.slice(0, page.limit) : events;
  return { items, nextCursor: hasMore ? items.at(-1)!.id : null };
}

export function verifyTrail(orgId: string | null) {
  return verifyAuditChain(db, orgId ?? PLATFORM_CHAIN);
}

export function listResidencyPolicies(orgId: string) {
  return db.residencyPolicy.findMany({ where: { orgId }, orderBy: { dataClassification: "asc" } });
}

// ─── Last verification of an audit chain ─────────────────────────────────────

export interface StoredVerification {
  ok: boolean;
  events: number;
  brokenAtSeq: number | null;
  reason: string | null;
  checkedAt: Date;
  /** "stored": the hourly job's last run; "on_demand": none was stored, so it ran for this answer. */
  source: "stored" | "on_demand";
}

/** Stores a chain's verification result (the hourly job calls this for every chain). */
export async function recordChainVerification(result: ChainVerification, checkedAt = new Date()) {
  const data = { ok: result.ok, events: result.events, brokenAtSeq: result.ok ? null : result.brokenAtSeq, reason: result.ok ? null : result.reason, checkedAt };
  await db.auditChainVerification.upsert({ where: { chain: result.chain }, create: { chain: result.chain, ...data }, update: data });
}

/**
 * The chain's last verification stored by the hourly job (workers/jobs/verify-audit-chains.ts);
 * when none is stored yet (a new installation, the workers not started), verifies it now. Reads
 * only: a query writes nothing (a suspended organisation's reads change nothing).
 */
export async function lastChainVerification(chain: string): Promise<StoredVerification> {
  const stored = await db.auditChainVerification.findUnique({ where: { chain } });
  if (stored) return { ok: stored.ok, events: stored.events, brokenAtSeq: stored.brokenAtSeq, reason: stored.reason, checkedAt: stored.checkedAt, source: "stored" };
  const checkedAt = new Date();
  const result = await verifyAuditChain(db, chain);
  return { ok: result.ok, events: result.events, brokenAtSeq: result.ok ? null : result.brokenAtSeq, reason: result.ok ? null : result.reason, checkedAt, source: "on_demand" };
}

// ─── Parts shared by the dashboard and the report ────────────────────────────

/** A checkpoint as the dashboard and the report show it (the witness's extras, if any, left out). */
export function checkpointFacts(c: Checkpoint | null | undefined) {
  if (!c) return null;
  return { chain: c.chain, origin: c.origin, treeSize: c.treeSize, rootHash: c.rootHash, time: c.time, note: c.note };
}

/** The audit log's integrity: its size, latest and last witnessed checkpoints, last verification. */
export async function auditIntegrity(orgId: string) {
  const chain = chainOf(orgId);
  const [events, latest, witnessed, verification] = await Promise.all([
    db.auditEvent.count({ where: { chain } }),
    latestCheckpoint(chain),
    lastWitnessed(chain),
    lastChainVerification(chain),
  ]);
  return { chain, events, latestCheckpoint: checkpointFacts(latest), lastWitnessed: witnessed ? { ...checkpointFacts(witnessed)!, witnessedAt: witnessed.witnessedAt } : null, verification };
}

/** Logs kept, against the AI Act's six months (Art. 19(1), 26(6)), and content capture in force. */
export async function retentionInForce(orgId: string | null) {
  const { traceDays, usageDays } = retentionFromEnv();
  const active = { revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }], ...(orgId ? { orgId } : {}) };
  const [activeKeys, keysCapturingContent] = await Promise.all([db.apiKey.count({ where: active }), db.apiKey.count({ where: { ...active, captureContent: true } })]);
  return {
    traceDays,
    usageRecordDays: usageDays,
    minimumDays: AI_ACT_MINIMUM_LOG_DAYS,
    meetsMinimum: traceDays >= AI_ACT_MINIMUM_LOG_DAYS && usageDays >= AI_ACT_MINIMUM_LOG_DAYS,
    activeKeys,
    keysCapturingContent,
  };
}

const regionSelect = { id: true, code: true, name: true, provider: true, country: true, jurisdiction: true, certifications: true, extraterritorialExposure: true, exposureNote: true } as const;
export type RegionFacts = { id: string; code: string; name: string; provider: string; country: string; jurisdiction: string; certifications: string[]; extraterritorialExposure: boolean; exposureNote: string | null };

export function regionsById(ids: string[]): Promise<Map<string, RegionFacts>> {
  const unique = [...new Set(ids.filter((id) => id !== ""))];
  if (unique.length === 0) return Promise.resolve(new Map());
  return db.region.findMany({ where: { id: { in: unique } }, select: regionSelect }).then((rows) => new Map(rows.map((r) => [r.id, r])));
}

export interface RegionTraffic {
  regionId: string;
  requests: number;
  tokensIn: number;
  tokensOut: number;
}

/**
 * Exposure: the regions with extraterritorial exposure where the organisation has a deployment
 * or traffic, the deployments there, and the traffic they served (requests and tokens).
 */
export function exposureOf(deployments: DeploymentCompliance[], traffic: RegionTraffic[], regions: Map<string, RegionFacts>) {
  const exposed = (regionId: string) => regions.get(regionId)?.extraterritorialExposure === true;
  const exposedDeployments = deployments.filter((d) => d.extraterritorialExposure);
  const exposedTraffic = traffic.filter((t) => exposed(t.regionId));
  const regionIds = [...new Set([...exposedDeployments.map((d) => d.regionId), ...exposedTraffic.map((t) => t.regionId)])];
  const total = traffic.reduce((n, t) => n + t.requests, 0);
  const sum = (k: "requests" | "tokensIn" | "tokensOut") => exposedTraffic.reduce((n, t) => n + t[k], 0);
  return {
    regions: regionIds
      .map((id) => {
        const r = regions.get(id);
        const t = exposedTraffic.filter((x) => x.regionId === id);
        return {
          id,
          code: r?.code ?? id,
          name: r?.name ?? "Deleted region",
          jurisdiction: r?.jurisdiction ?? "",
          exposureNote: r?.exposureNote ?? null,
          deployments: exposedDeployments.filter((d) => d.regionId === id).map((d) => ({ id: d.deploymentId, name: d.deploymentName })),
          requests: t.reduce((n, x) => n + x.requests, 0),
          tokensIn: t.reduce((n, x) => n + x.tokensIn, 0),
          tokensOut: t.reduce((n, x) => n + x.tokensOut, 0),
        };
      })
      .sort((a, b) => b.requests - a.requests || a.code.localeCompare(b.code)),
    deploymentsInExposedRegions: exposedDeployments.length,
    requests: sum("requests"),
    tokensIn: sum("tokensIn"),
    tokensOut: sum("tokensOut"),
    totalRequests: total,
    shareOfRequests: total > 0 ? sum("requests") / total : 0,
  };
}

function statusCounts(deployments: DeploymentCompliance[]) {
  const nonCompliant = deployments.filter((d) => d.status === "non_compliant").length;
  return { total: deployments.length, compliant: deployments.length - nonCompliant, nonCompliant };
}

// ─── The organisation's dashboard ────────────────────────────────────────────

/**
 * The compliance dashboard of an organisation over a period (the usage dashboards' periods):
 * deployments by compliance status, exposure, guardrail outcomes, audit integrity, retention.
 */
export async function complianceOverview(orgId: string, period: UsagePeriod, now: Date = new Date()) {
  const w = usageWindow(period, now);
  const [org, deployments, byRegion, guardrails, audit, retention] = await Promise.all([
    db.organization.findUniqueOrThrow({ where: { id: orgId }, select: { id: true, slug: true, name: true, status: true } }),
    deploymentCompliance(orgId),
    usageBreakdown({ orgId, period, by: "region", now }),
    usageGuardrails({ orgId, period, now }),
    auditIntegrity(orgId),
    retentionInForce(orgId),
  ]);
  const traffic: RegionTraffic[] = byRegion.rows.map((r) => ({ regionId: r.id, requests: r.requests, tokensIn: r.tokensIn, tokensOut: r.tokensOut }));
  const regions = await regionsById([...traffic.map((t) => t.regionId), ...deployments.map((d) => d.regionId)]);
  return {
    organization: org,
    period: w.period,
    from: w.from,
    to: w.to,
    bucket: w.bucket,
    deployments: {
      ...statusCounts(deployments),
      items: deployments
        .map((d) => ({ ...d, regionName: regions.get(d.regionId)?.name ?? d.regionCode }))
        .sort((a, b) => (a.status === b.status ? a.deploymentName.localeCompare(b.deploymentName) : a.status === "non_compliant" ? -1 : 1)),
    },
    exposure: exposureOf(deployments, traffic, regions),
    guardrails: { totals: guardrails.totals, rules: guardrails.rules, series: guardrails.series },
    audit,
    retention,
  };
}

// ─── Across organisations (platform administrators) ──────────────────────────

/** One organisation's line of the platform view. */
function organizationSummary(o: Awaited<ReturnType<typeof complianceOverview>>) {
  return {
    organization: o.organization,
    deployments: { total: o.deployments.total, compliant: o.deployments.compliant, nonCompliant: o.deployments.nonCompliant },
    nonCompliantDeployments: o.deployments.items.filter((d) => d.status === "non_compliant").map((d) => ({ id: d.deploymentId, name: d.deploymentName, regionCode: d.regionCode, reasons: d.reasons })),
    exposure: { regions: o.exposure.regions.map((r) => r.code), deploymentsInExposedRegions: o.exposure.deploymentsInExposedRegions, requests: o.exposure.requests, tokensIn: o.exposure.tokensIn, tokensOut: o.exposure.tokensOut, totalRequests: o.exposure.totalRequests, shareOfRequests: o.exposure.shareOfRequests },
    guardrails: o.guardrails.totals,
    audit: {
      events: o.audit.events,
      latestCheckpoint: o.audit.latestCheckpoint ? { treeSize: o.audit.latestCheckpoint.treeSize, rootHash: o.audit.latestCheckpoint.rootHash, time: o.audit.latestCheckpoint.time } : null,
      lastWitnessedTreeSize: o.audit.lastWitnessed?.treeSize ?? null,
      verification: o.audit.verification,
    },
    retention: { activeKeys: o.retention.activeKeys, keysCapturingContent: o.retention.keysCapturingContent },
  };
}

/** Every organisation's compliance summary over a period, with platform totals. */
export async function complianceOverviewAll(period: UsagePeriod, now: Date = new Date()) {
  const w = usageWindow(period, now);
  const orgs = await db.organization.findMany({ orderBy: { name: "asc" }, select: { id: true } });
  const rows: ReturnType<typeof organizationSummary>[] = [];
  // One organisation at a time: each read is small, and the pool stays free for the tenants.
  for (const { id } of orgs) rows.push(organizationSummary(await complianceOverview(id, period, now)));
  const sum = (f: (r: (typeof rows)[number]) => number) => rows.reduce((n, r) => n + f(r), 0);
  const exposedRequests = sum((r) => r.exposure.requests);
  const totalRequests = sum((r) => r.exposure.totalRequests);
  return {
    period: w.period,
    from: w.from,
    to: w.to,
    organizations: rows,
    totals: {
      organizations: rows.length,
      deployments: sum((r) => r.deployments.total),
      compliant: sum((r) => r.deployments.compliant),
      nonCompliant: sum((r) => r.deployments.nonCompliant),
      deploymentsInExposedRegions: sum((r) => r.exposure.deploymentsInExposedRegions),
      exposedRequests,
      totalRequests,
      shareOfRequests: totalRequests > 0 ? exposedRequests / totalRequests : 0,
      guardrails: { checked: sum((r) => r.guardrails.checked), failed: sum((r) => r.guardrails.failed), blocked: sum((r) => r.guardrails.blocked), errors: sum((r) => r.guardrails.errors) },
      brokenChains: rows.filter((r) => !r.audit.verification.ok).length,
      organizationsWithoutCheckpoint: rows.filter((r) => r.audit.latestCheckpoint === null).length,
    },
    retention: await retentionInForce(null),
  };
}
