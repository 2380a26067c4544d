/**
 * Reading traces: the requests the gateway traced (one "Trace" row per request, its record a
 * TraceRecord of server/gateway/trace.ts, zlib-compressed or, on older rows, json: `storedTraceRecord`), listed newest first with cursor paging, and one W3C
 * trace read whole with the names of what it touched. Queries always start from the organisation
 * and follow the Trace indexes ((orgId, startedAt desc), (orgId, traceId), (orgId, deploymentId,
 * startedAt desc), (orgId, apiKeyId, startedAt desc)); records are read as written by any version
 * of the gateway: span names, attributes and verdicts it does not know are kept and shown as they are.
 */
import { inflateSync } from "node:zlib";
import { db } from "../db";
import { badRequest, notFound } from "../errors";
import { Prisma } from "../generated/prisma/client";
import type { AttributeValue, Attributes } from "../gateway/trace";
import { microEurToEur } from "./pricing";

/**
 * The TraceRecord a "Trace" row holds: its `recordZlib` inflated and parsed, or its `record` (json,
 * rows written before records were compressed). Null when the bytes are not a record (a damaged
 * row): the request is still listed, with no spans.
 */
export function storedTraceRecord(row: { record?: unknown; recordZlib?: Uint8Array | null }): unknown {
  if (row.recordZlib) {
    try {
      return JSON.parse(inflateSync(row.recordZlib).toString("utf8")) as unknown;
    } catch {
      return null;
    }
  }
  return row.record ?? null;
}

/** 32 lowercase hex digits, as a W3C `traceparent` carries them. */
export const TRACE_ID = /^[0-9a-f]{32}$/;

export type TraceStatusFilter = "ok" | "error" | number;

export interface TraceFilters {
  deploymentId?: string;
  apiKeyId?: string;
  /** "ok": answered below 400; "error": 400 and above (499: the client went away); a number: that HTTP status. */
  status?: TraceStatusFilter;
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
  traceId?: string;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
  limit: number;
}

// ─── Cursor ──────────────────────────────────────────────────────────────────

/** Rows are ordered by (startedAt, spanId) descending; the cursor is the last row's pair: "<epoch ms>.<spanId>". */
const CURSOR = /^(\d{1,15})\.([0-9a-f]{16})$/;

function encodeCursor(row: { startedAt: Date; spanId: string }): string {
  return `${row.startedAt.getTime()}.${row.spanId}`;
}

function decodeCursor(cursor: string): { startedAt: Date; spanId: string } {
  const m = CURSOR.exec(cursor);
  if (!m) throw badRequest("This cursor is not one this list gave; start again without a cursor", "cursor");
  return { startedAt: new Date(Number(m[1])), spanId: m[2] };
}

// ─── The list ────────────────────────────────────────────────────────────────

interface TraceRow {
  spanId: string;
  startedAt: Date;
  traceId: string;
  requestId: string;
  apiKeyId: string | null;
  deploymentId: string | null;
  regionId: string | null;
  model: string | null;
  endpoint: string;
  stream: boolean | null;
  status: number;
  errorCode: string | null;
  durationMs: number;
  ttftMs: number | null;
  tokensIn: number;
  tokensOut: number;
  costMicroEur: number;
  dataClass: string | null;
  hasContent: boolean;
}

function checkFilters(filters: TraceFilters) {
  if (filters.traceId !== undefined && !TRACE_ID.test(filters.traceId)) throw badRequest("traceId must be 32 lowercase hexadecimal digits, as in a W3C traceparent", "traceId");
  if (filters.from && filters.to && filters.from >= filters.to) throw badRequest("from must be before to", "from");
  if (typeof filters.status === "number" && (!Number.isInteger(filters.status) || filters.status < 100 || filters.status > 599)) throw badRequest("status is ok, error or an HTTP status between 100 and 599", "status");
}

/**
 * The SQL of one page (exported for the test that checks its plan): every condition is on a column
 * of an index that starts with "orgId", and the order follows (orgId, startedAt desc), so that a page
 * reads its rows and stops, whatever the size of the table.
 */
export function listTracesSql(orgId: string, filters: TraceFilters): Prisma.Sql {
  checkFilters(filters);
  const where: Prisma.Sql[] = [Prisma.sql`"orgId" = ${orgId}`];
  if (filters.traceId) where.push(Prisma.sql`"traceId" = ${filters.traceId}::bpchar`);
  if (filters.deploymentId) where.push(Prisma.sql`"deploymentId" = ${filters.deploymentId}`);
  if (filters.apiKeyId) where.push(Prisma.sql`"apiKeyId" = ${filters.apiKeyId}`);
  if (filters.status === "ok") where.push(Prisma.sql`"status" < 400`);
  else if (filters.status === "error") where.push(Prisma.sql`"status" >= 400`);
  else if (typeof filters.status === "number") where.push(Prisma.sql`"status" = ${filters.status}`);
  if (filters.from) where.push(Prisma.sql`"startedAt" >= ${filters.from}`);
  if (filters.to) where.push(Prisma.sql`"startedAt" < ${filters.to}`);
  if (filters.cursor) {
    const after = decodeCursor(filters.cursor);
    // The first condition bounds the index scan; the second breaks ties of the same millisecond.
    where.push(Prisma.sql`"startedAt" <= ${after.startedAt}`);
    where.push(Prisma.sql`("startedAt" < ${after.startedAt} OR "spanId" < ${after.spanId}::bpchar)`);
  }
  return Prisma.sql`
    SELECT "spanId", "startedAt", "traceId", "requestId", "apiKeyId", "deploymentId", "regionId", "model", "endpoint",
           COALESCE("stream", ("record"->>'stream')::boolean) AS "stream", "status", "errorCode", "durationMs", "ttftMs", "tokensIn", "tokensOut",
           "costMicroEur", "dataClass", ("content" IS NOT NULL) AS "hasContent"
    FROM "Trace"
    WHERE ${Prisma.join(where, " AND ")}
    ORDER BY "startedAt" DESC, "spanId" DESC
    LIMIT ${filters.limit + 1}`;
}

/** The requests the gateway traced for this organisation, newest first, one page at a time. */
export async function listTraces(orgId: string, filters: TraceFilters) {
  const rows = await db.$queryRaw<TraceRow[]>(listTracesSql(orgId, filters));
  const page = rows.slice(0, filters.limit);
  const names = await resolveNames(orgId, page);
  return {
    items: page.map((r) => ({
      traceId: r.traceId,
      spanId: r.spanId,
      requestId: r.requestId,
      startedAt: r.startedAt,
      model: r.model,
      endpoint: r.endpoint,
      stream: r.stream ?? false,
      status: r.status,
      errorCode: r.errorCode,
      durationMs: r.durationMs,
      ttftMs: r.ttftMs,
      tokensIn: r.tokensIn,
      tokensOut: r.tokensOut,
      costEur: microEurToEur(r.costMicroEur),
      dataClass: r.dataClass,
      hasContent: r.hasContent,
      ...names.of(r),
    })),
    nextCursor: rows.length > filters.limit ? encodeCursor(page.at(-1)!) : null,
  };
}

export type TraceListItem = Awaited<ReturnType<typeof listTraces>>["items"][number];

// ─── Names of what a trace touched ───────────────────────────────────────────

/**
 * Deployment, key and region names for links. Deployments and keys are looked up within the
 * organisation only; one deleted since (or renamed on deletion) still shows its id.
 */
async function resolveNames(orgId: string, rows: { deploymentId: string | null; apiKeyId: string | null; regionId: string | null }[]) {
  const ids = (pick: (r: (typeof rows)[number]) => string | null) => [...new Set(rows.map(pick).filter((id): id is string => id !== null))];
  const [deploymentIds, apiKeyIds, regionIds] = [ids((r) => r.deploymentId), ids((r) => r.apiKeyId), ids((r) => r.regionId)];
  const [deployments, apiKeys, regions] = await Promise.all([
    deploymentIds.length ? db.deployment.findMany({ where: { orgId, id: { in: deploymentIds } }, select: { id: true, name: true, phase: true, deletedAt: true } }) : [],
    apiKeyIds.length ? db.apiKey.findMany({ where: { orgId, id: { in: apiKeyIds } }, select: { id: true, name: true, prefix: true } }) : [],
    // Regions are the platform's public offer, the same for every tenant.
    regionIds.length ? db.region.findMany({ where: { id: { in: regionIds } }, select: { id: true, code: true, name: true } }) : [],
  ]);
  const deploymentById = new Map(deployments.map((d) => [d.id, d]));
  const keyById = new Map(apiKeys.map((k) => [k.id, k]));
  const regionById = new Map(regions.map((r) => [r.id, r]));
  return {
    of(row: { deploymentId: string | null; apiKeyId: string | null; regionId: string | null }) {
      const d = row.deploymentId ? deploymentById.get(row.deploymentId) : undefined;
      const k = row.apiKeyId ? keyById.get(row.apiKeyId) : undefined;
      const g = row.regionId ? regionById.get(row.regionId) : undefined;
      return {
        deployment: row.deploymentId
          ? { id: row.deploymentId, name: d ? d.name.replace(/~deleted-.*$/, "") : null, deleted: !d || d.deletedAt !== null || d.phase === "DELETED" }
          : null,
        apiKey: row.apiKeyId ? { id: row.apiKeyId, name: k?.name ?? null, prefix: k?.prefix ?? null, deleted: !k } : null,
        region: row.regionId ? { id: row.regionId, code: g?.code ?? null, name: g?.name ?? null } : null,
      };
    },
  };
}

// ─── One trace ───────────────────────────────────────────────────────────────

export interface TraceSpan {
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: "server" | "internal" | "client";
  startMs: number;
  durationMs: number;
  status: "ok" | "error" | "unset";
  attributes: Attributes;
  events: { name: string; atMs: number; attributes: Attributes }[];
}

export interface TraceVerdict {
  check: string;
  stage: string;
  action: string;
  outcome: string;
  /** Why the outcome is not a pass (a low-cardinality code written by the gateway), if it said. */
  reason: string | null;
  findings: Record<string, unknown> | null;
  score: number | null;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const text = (v: unknown, fallback: string) => (typeof v === "string" ? v : fallback);
const finite = (v: unknown, fallback: number) => (typeof v === "number" && Number.isFinite(v) ? v : fallback);
const oneOf = <T extends string>(v: unknown, values: readonly T[], fallback: T): T => (values.includes(v as T) ? (v as T) : fallback);

function attributeValue(v: unknown): AttributeValue | undefined {
  if (typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === "string")) return v as string[];
    if (v.every((x) => typeof x === "number" && Number.isFinite(x))) return v as number[];
    if (v.every((x) => typeof x === "boolean")) return v as boolean[];
    return v.map((x) => (typeof x === "string" ? x : JSON.stringify(x)));
  }
  // Not an OpenTelemetry attribute value: shown as its JSON text rather than dropped.
  return v === null || v === undefined ? undefined : JSON.stringify(v);
}

function attributesOf(v: unknown): Attributes {
  if (!isRecord(v)) return {};
  const out: Attributes = {};
  for (const [key, value] of Object.entries(v)) {
    const a = attributeValue(value);
    if (a !== undefined) out[key] = a;
  }
  return out;
}

/** A stored span as the readers show it: fields of unknown shape get neutral values, never an error. */
function spanOf(v: unknown, i: number): TraceSpan {
  const s = isRecord(v) ? v : {};
  return {
    spanId: text(s.spanId, `span-${i}`),
    parentSpanId: typeof s.parentSpanId === "string" ? s.parentSpanId : null,
    name: text(s.name, "unnamed"),
    kind: oneOf(s.kind, ["server", "internal", "client"] as const, "internal"),
    startMs: finite(s.startMs, 0),
    durationMs: Math.max(0, finite(s.durationMs, 0)),
    status: oneOf(s.status, ["ok", "error", "unset"] as const, "unset"),
    attributes: attributesOf(s.attributes),
    events: Array.isArray(s.events)
      ? s.events.filter(isRecord).map((e) => ({ name: text(e.name, "event"), atMs: finite(e.atMs, 0), attributes: attributesOf(e.attributes) }))
      : [],
  };
}

function verdictOf(v: unknown): TraceVerdict | null {
  if (!isRecord(v)) return null;
  return {
    check: text(v.check, "unknown"),
    stage: text(v.stage, "unknown"),
    action: text(v.action, "unknown"),
    outcome: text(v.outcome, "unknown"),
    reason: typeof v.reason === "string" ? v.reason : null,
    findings: isRecord(v.findings) ? v.findings : null,
    score: typeof v.score === "number" && Number.isFinite(v.score) ? v.score : null,
  };
}

const stringAttr = (span: TraceSpan | undefined, key: string) => (span && typeof span.attributes[key] === "string" ? (span.attributes[key] as string) : null);

/** What the residency decision said and which artifact answered, read from the spans for the reader's convenience. */
function highlights(spans: TraceSpan[], dataClass: string | null) {
  const residency = spans.find((s) => s.name === "residency");
  const reasons = residency?.attributes["enclave.residency.reasons"];
  // The last routing decision is the one that answered (an earlier attempt may have failed over).
  const route = spans.filter((s) => s.name === "route").at(-1);
  const uri = stringAttr(route, "enclave.artifact.uri");
  const sha256 = stringAttr(route, "enclave.artifact.sha256");
  return {
    residency: residency
      ? {
          dataClass: stringAttr(residency, "enclave.data_class") ?? dataClass,
          verdict: stringAttr(residency, "enclave.residency.verdict"),
          policy: stringAttr(residency, "enclave.residency.policy"),
          reasons: Array.isArray(reasons) ? reasons.map(String) : typeof reasons === "string" ? [reasons] : [],
        }
      : null,
    artifact: uri || sha256 ? { uri, sha256 } : null,
  };
}

/** Whether this organisation has a request in the trace (a malformed id has none). */
export async function traceExists(orgId: string, traceId: string): Promise<boolean> {
  if (!TRACE_ID.test(traceId)) return false;
  const rows = await db.$queryRaw<unknown[]>`SELECT 1 FROM "Trace" WHERE "orgId" = ${orgId} AND "traceId" = ${traceId}::bpchar LIMIT 1`;
  return rows.length > 0;
}

interface FullTraceRow extends Omit<TraceRow, "hasContent" | "stream"> {
  recordId: string;
  record: unknown;
  recordZlib: Uint8Array | null;
  content: unknown;
}

/**
 * Every request of this organisation in the W3C trace `traceId` (a trace may hold several gateway
 * requests: a program's retries, an agent's steps), oldest first. Another organisation's trace is
 * "not found", exactly like one that does not exist. Stored prompts and completions are returned
 * `withContent` only (the router: to admins and owners, who decide to capture them).
 */
export async function getTrace(orgId: string, traceId: string, options: { withContent: boolean } = { withContent: true }) {
  if (!TRACE_ID.test(traceId)) throw badRequest("traceId must be 32 lowercase hexadecimal digits, as in a W3C traceparent", "traceId");
  const rows = await db.$queryRaw<FullTraceRow[]>`
    SELECT "spanId", "startedAt", "traceId", "requestId", "recordId", "apiKeyId", "deploymentId", "regionId", "model", "endpoint", "status", "errorCode",
           "durationMs", "ttftMs", "tokensIn", "tokensOut", "costMicroEur", "dataClass", "record", "recordZlib", "content"
    FROM "Trace" WHERE "orgId" = ${orgId} AND "traceId" = ${traceId}::bpchar
    ORDER BY "startedAt", "spanId"
    LIMIT 1000`;
  if (rows.length === 0) throw notFound("Trace");
  const names = await resolveNames(orgId, rows);
  const requests = rows.map((r) => {
    const stored = storedTraceRecord(r);
    const record = isRecord(stored) ? stored : {};
    const spans = Array.isArray(record.spans) ? record.spans.map(spanOf) : [];
    const captured = options.withContent ? r.content : null;
    const content = isRecord(captured) ? { request: captured.request ?? null, completion: typeof captured.completion === "string" ? captured.completion : null } : null;
    return {
      traceId: r.traceId,
      spanId: r.spanId,
      parentSpanId: typeof record.parentSpanId === "string" ? record.parentSpanId : null,
      sampled: typeof record.sampled === "boolean" ? record.sampled : true,
      requestId: r.requestId,
      recordId: r.recordId,
      startedAt: r.startedAt,
      model: r.model,
      endpoint: r.endpoint,
      stream: record.stream === true,
      dataClass: r.dataClass,
      status: r.status,
      errorCode: r.errorCode,
      durationMs: r.durationMs,
      ttftMs: r.ttftMs,
      tokensIn: r.tokensIn,
      tokensOut: r.tokensOut,
      costEur: microEurToEur(r.costMicroEur),
      ...names.of(r),
      ...highlights(spans, r.dataClass),
      spans,
      verdicts: Array.isArray(record.verdicts) ? record.verdicts.map(verdictOf).filter((v): v is TraceVerdict => v !== null) : [],
      content,
      contentWithheld: !options.withContent && r.content !== null,
    };
  });
  const start = Math.min(...requests.map((q) => q.startedAt.getTime()));
  const end = Math.max(...requests.map((q) => q.startedAt.getTime() + q.durationMs));
  return { traceId, startedAt: new Date(start), durationMs: end - start, requests };
}

export type TraceDetail = Awaited<ReturnType<typeof getTrace>>;
