/**
 * How a batch of spooled usage records becomes rows of "UsageRecord" (server/gateway/spool.ts):
 * one INSERT of arrays, idempotent on the record id, so a replayed record is never counted twice.
 *
 * The row's key is (createdAt, id): `id` is the md5 of the spool's record id as a uuid
 * (`usageRecordId`), and createdAt the arrival time the spool line carries, so a replay of the same
 * line — minutes or days later, from another process — hits the same key in the same monthly
 * partition and is skipped. The table's statement trigger writes the rows' "UsageDelta" in the same
 * statement (docs/usage.md); nothing else here knows about roll-ups. A row's guardrail verdicts are
 * its `guardrails` outcome codes (NULL when no check ran), counted by the roll-ups.
 */
import { createHash } from "node:crypto";
import { arrayLiteral } from "./pg-array";

export interface UsageEntry {
  requestId: string;
  orgId: string;
  apiKeyId: string | null;
  deploymentId: string | null;
  endpoint: string;
  tokensIn: number;
  tokensOut: number;
  latencyMs: number;
  ttftMs: number | null;
  status: number;
  costMicroEur: number;
  /** Epoch ms when the request arrived. */
  at: number;
  /** A streamed (SSE) answer; absent in spool lines written before the field existed. */
  stream?: boolean;
  /**
   * One outcome code per guardrail verdict of the request (`outcomeCode(rule, outcome)`,
   * server/guardrails/types.ts); absent or null when no check ran (and in older spool lines).
   */
  guardrails?: number[] | null;
}

/**
 * The usage rows' CTEs: `rows` (the parameters), `inserted` (the new rows), `used` (the keys'
 * `lastUsedAt`). INSERT_SQL ends them with the count; trace-sql.ts's USAGE_AND_TRACE_SQL adds the
 * batch's traces to the same statement.
 */
export const USAGE_CTES = `WITH rows AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::float8[], $9::float8[], $10::int[], $11::int[], $12::timestamp[], $13::bool[], $14::text[])
    AS t(rid, org, apikey, dep, endpoint, tin, tout, lat, ttft, status, cost, at, stream, guardrails)
), inserted AS (
  INSERT INTO "UsageRecord" ("createdAt", id, "orgId", "apiKeyId", "deploymentId", endpoint, "tokensIn", "tokensOut", "latencyMs", "ttftMs", status, stream, "costMicroEur", "guardrails")
  SELECT r.at, md5(r.rid)::uuid, o.id, k.id, d.id, r.endpoint, r.tin, r.tout, r.lat, r.ttft, r.status, coalesce(r.stream, false), r.cost, r.guardrails::smallint[]
  FROM rows r
  JOIN "Organization" o ON o.id = r.org
  LEFT JOIN "ApiKey" k ON k.id = r.apikey
  LEFT JOIN "Deployment" d ON d.id = r.dep
  ON CONFLICT ("createdAt", id) DO NOTHING
  RETURNING 1
), used AS (
  UPDATE "ApiKey" k SET "lastUsedAt" = u.at
  FROM (SELECT apikey, max(at) AS at FROM rows WHERE apikey IS NOT NULL GROUP BY apikey) u
  WHERE k.id = u.apikey AND (k."lastUsedAt" IS NULL OR k."lastUsedAt" < u.at)
  RETURNING 1
)`;
/** The number of parameters of USAGE_CTES ($1 to $14). */
export const USAGE_PARAM_COUNT = 14;

/** What a batch statement answers: the number of usage rows it inserted (replays insert none). */
export const USAGE_INSERTED = `SELECT (SELECT count(*) FROM inserted)::int AS inserted`;

export const INSERT_SQL = `${USAGE_CTES}
${USAGE_INSERTED}`;

/** SQLSTATE classes that mean "this record is bad" (data exception, integrity); anything else is retried. */
export const BAD_RECORD_SQLSTATE = /^(22|23)/;

/** USAGE_CTES' parameters: one array literal per column (pg-array.ts). */
export function insertParams(entries: UsageEntry[]): string[] {
  const n = entries.length;
  const cols: unknown[][] = Array.from({ length: USAGE_PARAM_COUNT }, () => new Array(n));
  for (let i = 0; i < n; i++) {
    const e = entries[i];
    cols[0][i] = e.requestId;
    cols[1][i] = e.orgId;
    cols[2][i] = e.apiKeyId;
    cols[3][i] = e.deploymentId;
    cols[4][i] = e.endpoint;
    cols[5][i] = e.tokensIn | 0;
    cols[6][i] = e.tokensOut | 0;
    cols[7][i] = e.latencyMs;
    cols[8][i] = e.ttftMs;
    cols[9][i] = e.status | 0;
    cols[10][i] = Math.min(2 ** 31 - 1, Math.round(e.costMicroEur));
    cols[11][i] = new Date(e.at).toISOString();
    cols[12][i] = e.stream === true;
    // A list per row: unnest would flatten an array of arrays, so each travels as its array literal.
    cols[13][i] = guardrailCodes(e.guardrails);
  }
  return cols.map(arrayLiteral);
}

/** A row's verdict codes as a PostgreSQL array literal ("{9,17}"), or null; anything but small integers is dropped. */
function guardrailCodes(codes: unknown): string | null {
  if (!Array.isArray(codes) || codes.length === 0) return null;
  const valid = codes.filter((c) => Number.isInteger(c) && c >= 0 && c < 32768);
  return valid.length > 0 ? arrayLiteral(valid) : null;
}

/** "UsageRecord".id of the record the spool wrote as `requestId` (what `md5(requestId)::uuid` gives in SQL). */
export function usageRecordId(requestId: string): string {
  const h = createHash("md5").update(requestId).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Exact spend (micro-euros, bigint) of a key or an organisation since `since` (a midnight UTC such
 * as the first of the month), without reading raw rows: the daily totals plus the deltas not yet
 * rolled up, read in one snapshot — the roll-up moves a delta into the daily row in one transaction,
 * so each committed record counts exactly once. `key`, `org`, `since` are SQL expressions
 * (parameters such as "$1", "$3::timestamp").
 */
export function keySpendSinceSql(key: string, since: string): string {
  return `SELECT (
  coalesce((SELECT sum(u."costMicroEur") FROM "UsageDailyTotal" u WHERE u."orgId" = (SELECT k."orgId" FROM "ApiKey" k WHERE k.id = ${key}) AND u.day >= (${since})::date AND u."deploymentId" = '*' AND u."apiKeyId" = ${key}), 0)
  + coalesce((SELECT sum(d."costMicroEur") FROM "UsageDelta" d WHERE d."apiKeyId" = ${key} AND d.hour >= (${since})::timestamp), 0)
)::bigint AS spent`;
}

export function orgSpendSinceSql(org: string, since: string): string {
  return `SELECT (
  coalesce((SELECT sum(u."costMicroEur") FROM "UsageDailyTotal" u WHERE u."orgId" = ${org} AND u.day >= (${since})::date AND u."deploymentId" = '*' AND u."apiKeyId" = '*'), 0)
  + coalesce((SELECT sum(d."costMicroEur") FROM "UsageDelta" d WHERE d."orgId" = ${org} AND d.hour >= (${since})::timestamp), 0)
)::bigint AS spent`;
}
