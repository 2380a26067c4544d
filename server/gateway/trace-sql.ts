/**
 * How a batch of spooled traces becomes rows of "Trace" (server/gateway/spool.ts), in the same
 * transaction as the batch's usage rows (usage-sql.ts): one INSERT of arrays, idempotent on the
 * primary key ("spanId", "startedAt") — the root span id is random per request, so a replayed line
 * is never stored twice. A trace of an organisation deleted meanwhile is dropped.
 *
 * PostgreSQL never parses a trace into jsonb on this path: that conversion cost ~270 µs of its CPU
 * per 3 KB record (docs/benchmarks.md, "What a trace costs PostgreSQL"), six times what the rest of
 * the batch costs. The columns to filter on travel as arrays, taken from the TraceRecord when it is
 * spooled (`traceColumns`), and `record` is a `json` column (validated, stored as text) filled
 * from a slice of the spooled line's own bytes. `content` (prompt and completion, only for keys
 * with content capture on) stays `jsonb`.
 */
import type { SpoolItem } from "./spool";
import type { TraceRecord } from "./trace";

/** `trace` of an item whose trace is only in its `line`. */
export const TRACE_IN_LINE = "\u0000in-line";

/** The item's trace JSON (parsed back from its line when only the line holds it). */
export function traceJsonOf(item: SpoolItem): string | null {
  if (item.trace !== TRACE_IN_LINE) return item.trace;
  if (item.line && item.traceAt) return item.line.toString("utf8", item.traceAt[0], item.traceAt[0] + item.traceAt[1]);
  return item.line ? JSON.stringify((JSON.parse(item.line.toString("utf8")) as { trace: unknown }).trace) : null;
}

/** The "Trace" columns of one record, in TRACE_INSERT_SQL's order (after the byte ranges). */
export type TraceColumns = [
  spanId: string,
  startedAt: number,
  traceId: string,
  orgId: string,
  requestId: string,
  recordId: string,
  apiKeyId: string | null,
  deploymentId: string | null,
  regionId: string | null,
  model: string | null,
  endpoint: string,
  status: number,
  errorCode: string | null,
  durationMs: number,
  ttftMs: number | null,
  tokensIn: number,
  tokensOut: number,
  costMicroEur: number,
  dataClass: string | null,
];
const COLUMN_COUNT = 19;

/** NUL cannot be stored in a text column (the record's JSON escapes it; a column must not hold it). */
const text = (s: string | null) => (s !== null && s.includes("\u0000") ? s.replaceAll("\u0000", "\uFFFD") : s);
const num = (x: unknown, fallback = 0) => (typeof x === "number" && Number.isFinite(x) ? x : fallback);
const str = (x: unknown) => (typeof x === "string" ? text(x) : null);

/** The columns of a record, read once when it is spooled (or parsed back from a replayed line, whose fields may be missing). */
export function traceColumns(r: TraceRecord): TraceColumns {
  return [
    String(r.spanId),
    num(r.startedAt),
    String(r.traceId),
    String(r.orgId),
    text(String(r.requestId))!,
    String(r.recordId),
    str(r.apiKeyId),
    str(r.deploymentId),
    str(r.regionId),
    str(r.model),
    text(String(r.endpoint ?? ""))!,
    Math.trunc(num(r.status)),
    str(r.errorCode),
    num(r.durationMs),
    typeof r.ttftMs === "number" && Number.isFinite(r.ttftMs) ? r.ttftMs : null,
    Math.trunc(num(r.tokensIn)),
    Math.trunc(num(r.tokensOut)),
    num(r.costMicroEur),
    str(r.dataClass),
  ];
}

export const TRACE_INSERT_SQL = `INSERT INTO "Trace" ("spanId", "startedAt", "traceId", "orgId", "requestId", "recordId", "apiKeyId",
  "deploymentId", "regionId", "model", "endpoint", "status", "errorCode", "durationMs", "ttftMs", "tokensIn", "tokensOut", "costMicroEur",
  "dataClass", "record", "content")
SELECT t.span, timestamp 'epoch' + t.started * interval '1 millisecond', t.trace, o.id, t.req, t.rec, t.apikey, t.dep, t.reg, t.model,
  t.endpoint, t.status, t.err, t.dur::real, t.ttft::real, t.tin, t.tout, LEAST(round(t.cost), 2147483647)::int, t.dc,
  convert_from(substring($1::bytea FROM t.roff + 1 FOR t.rlen), 'UTF8')::json,
  CASE WHEN t.clen > 0 THEN convert_from(substring($1::bytea FROM t.coff + 1 FOR t.clen), 'UTF8')::jsonb END
FROM unnest($2::int[], $3::int[], $4::int[], $5::int[], $6::text[], $7::float8[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
  $13::text[], $14::text[], $15::text[], $16::text[], $17::int[], $18::text[], $19::float8[], $20::float8[], $21::int[], $22::int[], $23::float8[], $24::text[])
  AS t(roff, rlen, coff, clen, span, started, trace, org, req, rec, apikey, dep, reg, model, endpoint, status, err, dur, ttft, tin, tout, cost, dc)
JOIN "Organization" o ON o.id = t.org
ON CONFLICT ("spanId", "startedAt") DO NOTHING`;

/**
 * The parameters: the bytes of every trace (and captured content) — the spooled lines themselves,
 * joined, when the items have them (a copy, no string work on the event loop) — their byte ranges,
 * and one array per column. `withContent` false stores the traces without their content.
 */
export function traceParams(items: SpoolItem[], withContent = true): unknown[] {
  const n = items.length;
  const parts: Buffer[] = [];
  const ranges: number[][] = [new Array(n), new Array(n), new Array(n), new Array(n)];
  const cols: unknown[][] = Array.from({ length: COLUMN_COUNT }, () => new Array(n));
  let offset = 0;
  for (let i = 0; i < n; i++) {
    const item = items[i];
    let bytes: Buffer;
    let traceAt: readonly [number, number];
    let contentAt: readonly [number, number] | null;
    if (item.line && item.traceAt) {
      bytes = item.line;
      traceAt = item.traceAt;
      contentAt = item.contentAt ?? null;
    } else {
      // A replayed or rebuilt item: its trace and content laid end to end.
      const trace = Buffer.from(traceJsonOf(item) ?? "null");
      const content = item.content !== null ? Buffer.from(item.content) : null;
      bytes = content ? Buffer.concat([trace, content]) : trace;
      traceAt = [0, trace.length];
      contentAt = content ? [trace.length, content.length] : null;
    }
    parts.push(bytes);
    ranges[0][i] = offset + traceAt[0];
    ranges[1][i] = traceAt[1];
    const content = withContent && contentAt !== null && item.content !== null;
    ranges[2][i] = content ? offset + contentAt![0] : 0;
    ranges[3][i] = content ? contentAt![1] : 0;
    offset += bytes.length;
    const c = item.cols ?? traceColumns(JSON.parse(traceJsonOf(item) ?? "{}") as TraceRecord);
    for (let j = 0; j < COLUMN_COUNT; j++) cols[j][i] = c[j];
  }
  return [Buffer.concat(parts, offset), ...ranges, ...cols];
}
