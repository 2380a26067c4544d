/**
 * How a batch of spooled traces becomes rows of "Trace" (server/gateway/spool.ts), in the same
 * transaction as the batch's usage rows (usage-sql.ts): one INSERT of one JSON array, idempotent on
 * the primary key ("spanId", "startedAt") — the root span id is random per request, so a replayed
 * line is never stored twice. The columns are read from the record by PostgreSQL, so the gateway
 * never parses or serialises a trace again after writing its spool line.
 *
 * `record` is the TraceRecord without its content; `content` (prompt and completion) is present
 * only for keys with content capture on. A trace of an organisation deleted meanwhile is dropped.
 */
import type { SpoolItem } from "./spool";

/** `trace` of an item whose trace is only in its `line`. */
export const TRACE_IN_LINE = "\u0000in-line";

/** The item's trace JSON (parsed back from its line when only the line holds it). */
export function traceJsonOf(item: SpoolItem): string | null {
  if (item.trace !== TRACE_IN_LINE) return item.trace;
  return item.line ? JSON.stringify((JSON.parse(item.line.toString("utf8")) as { trace: unknown }).trace) : null;
}

export const TRACE_INSERT_SQL = `INSERT INTO "Trace" ("spanId", "startedAt", "traceId", "orgId", "requestId", "recordId", "apiKeyId",
  "deploymentId", "regionId", "model", "endpoint", "status", "errorCode", "durationMs", "ttftMs", "tokensIn", "tokensOut", "costMicroEur",
  "dataClass", "record", "content")
SELECT r->>'spanId', timestamp 'epoch' + (r->>'startedAt')::float8 * interval '1 millisecond', r->>'traceId', o.id, r->>'requestId',
  r->>'recordId', r->>'apiKeyId', r->>'deploymentId', r->>'regionId', r->>'model', r->>'endpoint', (r->>'status')::int, r->>'errorCode',
  (r->>'durationMs')::real, (r->>'ttftMs')::real, (r->>'tokensIn')::int, (r->>'tokensOut')::int,
  LEAST(round((r->>'costMicroEur')::float8), 2147483647)::int, r->>'dataClass', r, c
FROM (SELECT e->'trace' AS r, NULLIF(e->'content', 'null'::jsonb) AS c FROM jsonb_array_elements(convert_from($1::bytea, 'UTF8')::jsonb) AS e) t
JOIN "Organization" o ON o.id = t.r->>'orgId'
ON CONFLICT ("spanId", "startedAt") DO NOTHING`;

const OPEN = Buffer.from("[");
const COMMA = Buffer.from(",");
const CLOSE = Buffer.from("]");

/**
 * The one parameter: the UTF-8 bytes of `[{"trace": record, "content": content}, …]`, sent in
 * binary (a Buffer) and read as `bytea`. Each element is the spooled line itself when there is one
 * (its `usage` is ignored here): joining buffers is a copy, where building and encoding the same
 * JSON as a string blocked the event loop ≥ 3.5 ms per 100 traces (docs/benchmarks.md).
 */
export function traceParams(items: SpoolItem[], withContent = true): [Buffer] {
  const parts: Buffer[] = [OPEN];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (i > 0) parts.push(COMMA);
    parts.push(withContent && item.line ? item.line : Buffer.from(`{"trace":${traceJsonOf(item)},"content":${withContent && item.content !== null ? item.content : "null"}}`));
  }
  parts.push(CLOSE);
  return [Buffer.concat(parts)];
}
