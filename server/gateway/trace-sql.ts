/**
 * How a batch of spooled traces becomes rows of "Trace" (server/gateway/spool.ts), in the same
 * transaction as the batch's usage rows (usage-sql.ts): one INSERT of arrays, idempotent on the
 * primary key ("spanId", "startedAt") — the root span id is random per request, so a replayed line
 * is never stored twice. A trace of an organisation deleted meanwhile is dropped.
 *
 * What a row costs PostgreSQL is, above all, its bytes: a 4.2 KB record stored as `json` cost the
 * backend ~160 µs of CPU per row, the same record zlib-compressed (1.1–1.3 KB) ~21 µs (docs/gateway.md,
 * "What a trace row costs"). So `recordZlib` holds the TraceRecord's JSON (without its content)
 * compressed by the gateway (RFC 1950, `deflateTraces`, off the request path, on a worker thread), and the
 * columns to filter and list on travel as arrays, taken from the TraceRecord when it is spooled
 * (`traceColumns`). `content` (prompt and completion, only for keys with content capture on) stays
 * `jsonb`. Rows written before this change hold `record` (json) instead: readers take either
 * (`storedTraceRecord` in server/services/traces.ts).
 */
import { deflateSync } from "node:zlib";
import { DeflatePool } from "./deflate-pool";
import type { SpoolItem } from "./spool";
import { arrayLiteral } from "./pg-array";
import { USAGE_CTES, USAGE_INSERTED, USAGE_PARAM_COUNT } from "./usage-sql";
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
  stream: boolean,
];
const COLUMN_COUNT = 20;

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
    r.stream === true,
  ];
}

const TRACE_INSERT_SQL = `INSERT INTO "Trace" ("spanId", "startedAt", "traceId", "orgId", "requestId", "recordId", "apiKeyId",
  "deploymentId", "regionId", "model", "endpoint", "status", "errorCode", "durationMs", "ttftMs", "tokensIn", "tokensOut", "costMicroEur",
  "dataClass", "stream", "recordZlib", "content")
SELECT t.span, timestamp 'epoch' + t.started * interval '1 millisecond', t.trace, o.id, t.req, t.rec, t.apikey, t.dep, t.reg, t.model,
  t.endpoint, t.status, t.err, t.dur::real, t.ttft::real, t.tin, t.tout, LEAST(round(t.cost), 2147483647)::int, t.dc, t.stream,
  substring($1::bytea FROM t.roff + 1 FOR t.rlen),
  CASE WHEN t.clen > 0 THEN convert_from(substring($1::bytea FROM t.coff + 1 FOR t.clen), 'UTF8')::jsonb END
FROM unnest($2::int[], $3::int[], $4::int[], $5::int[], $6::text[], $7::float8[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
  $13::text[], $14::text[], $15::text[], $16::text[], $17::int[], $18::text[], $19::float8[], $20::float8[], $21::int[], $22::int[], $23::float8[],
  $24::text[], $25::bool[])
  AS t(roff, rlen, coff, clen, span, started, trace, org, req, rec, apikey, dep, reg, model, endpoint, status, err, dur, ttft, tin, tout, cost, dc, stream)
JOIN "Organization" o ON o.id = t.org
ON CONFLICT ("spanId", "startedAt") DO NOTHING`;

/**
 * A batch's usage rows and trace rows in one statement (atomic on its own: no BEGIN and COMMIT),
 * parameters `[...insertParams(usage), ...traceParams(…)]`. One round trip instead of four: at
 * saturation each round trip waits for a turn of the gateway's busy event loop, and four of them
 * per batch left the spool 14,000–19,000 records behind after 15 s of wrk.
 */
export const USAGE_AND_TRACE_SQL = `${USAGE_CTES}, traced AS (
${TRACE_INSERT_SQL.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + USAGE_PARAM_COUNT}`)}
  RETURNING 1
)
${USAGE_INSERTED}`;

/**
 * zlib's settings for a record: level 1 compresses a typical 2.8–4.2 KB record about 3× (level 6
 * gains 5 % more for 10 % more time); a 4 KiB window is as good as the default on records this size.
 * A call costs ~25 µs, most of it zlib's set-up.
 */
const ZLIB = { level: 1, windowBits: 12 } as const;

/** A record's JSON as "Trace"."recordZlib" holds it (also for imports and test fixtures). */
export function compressTraceRecord(json: string | Buffer): Buffer {
  return deflateSync(json, ZLIB);
}

/**
 * How long records are compressed between two turns of the event loop (~40–60 records at 15–25 µs
 * each). A fixed count per turn was slow under load: at saturation a turn of the gateway's loop
 * takes milliseconds, so 63 turns for a batch of 500 capped the spool below the request rate.
 */
const SLICE_MS = 1;

/** The trace JSON's bytes of an item, as spooled (a slice of its line when it has one). */
function traceBytes(item: SpoolItem): Buffer {
  if (item.line && item.traceAt) return item.line.subarray(item.traceAt[0], item.traceAt[0] + item.traceAt[1]);
  return Buffer.from(traceJsonOf(item) ?? "null");
}

/** The content JSON's bytes of an item, or null. */
function contentBytes(item: SpoolItem): Buffer | null {
  if (item.content === null) return null;
  if (item.line && item.contentAt) return item.line.subarray(item.contentAt[0], item.contentAt[0] + item.contentAt[1]);
  return Buffer.from(item.content);
}

/** Where a batch's records are compressed: on the worker thread (the default), or on the event loop (GATEWAY_TRACE_COMPRESSION=inline; paired benchmarks). */
export type TraceCompression = "worker" | "inline";

/** The worker that compresses batches off the event loop (deflate-pool.ts), one per process. */
const processPool = new DeflatePool(ZLIB);

export interface DeflateOptions {
  where?: TraceCompression;
  /** Told why, when the worker failed and the batch was compressed here. */
  onWorkerError?: (error: unknown) => void;
  /** Another pool than the process's (tests). */
  pool?: DeflatePool;
}

/**
 * Each item's record compressed (`recordZlib`): on the worker thread, or, when it fails, here,
 * SLICE_MS at a time with a turn of the event loop between slices.
 */
export async function deflateTraces(items: SpoolItem[], { where = "worker", onWorkerError, pool = processPool }: DeflateOptions = {}): Promise<Buffer[]> {
  const inputs = items.map(traceBytes);
  if (where === "worker") {
    try {
      return await pool.deflate(inputs);
    } catch (error) {
      // The worker failed or exited: compress here (the next batch starts a new worker).
      onWorkerError?.(error);
    }
  }
  return deflateHere(inputs);
}

async function deflateHere(inputs: Buffer[]): Promise<Buffer[]> {
  const out: Buffer[] = new Array(inputs.length);
  let sliceStart = performance.now();
  for (let i = 0; i < inputs.length; i++) {
    if (performance.now() - sliceStart >= SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
    out[i] = compressTraceRecord(inputs[i]);
  }
  return out;
}

/**
 * The parameters: the compressed records and the captured contents laid end to end in one bytea,
 * their byte ranges, and one array literal per column. `records` is `deflateTraces(items)`; `withContent`
 * false stores the traces without their content.
 */
export function traceParams(items: SpoolItem[], records: Buffer[], withContent = true): unknown[] {
  const n = items.length;
  const parts: Buffer[] = [];
  const ranges: number[][] = [new Array(n), new Array(n), new Array(n), new Array(n)];
  const cols: unknown[][] = Array.from({ length: COLUMN_COUNT }, () => new Array(n));
  let offset = 0;
  for (let i = 0; i < n; i++) {
    const item = items[i];
    parts.push(records[i]);
    ranges[0][i] = offset;
    ranges[1][i] = records[i].length;
    offset += records[i].length;
    const content = withContent ? contentBytes(item) : null;
    if (content) parts.push(content);
    ranges[2][i] = content ? offset : 0;
    ranges[3][i] = content ? content.length : 0;
    offset += content?.length ?? 0;
    const c = item.cols ?? traceColumns(JSON.parse(traceJsonOf(item) ?? "{}") as TraceRecord);
    for (let j = 0; j < COLUMN_COUNT; j++) cols[j][i] = c[j];
  }
  return [Buffer.concat(parts, offset), ...ranges.map(arrayLiteral), ...cols.map(arrayLiteral)];
}
