/**
 * How a batch of spooled usage records becomes rows of "UsageRecord" (server/gateway/spool.ts):
 * one INSERT of arrays, idempotent on the record id, so a replayed record is never counted twice.
 */

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
}

export const INSERT_SQL = `WITH rows AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::float8[], $9::float8[], $10::int[], $11::int[], $12::timestamp[])
    AS t(rid, org, apikey, dep, endpoint, tin, tout, lat, ttft, status, cost, at)
), inserted AS (
  INSERT INTO "UsageRecord" (id, "requestId", "orgId", "apiKeyId", "deploymentId", endpoint, "tokensIn", "tokensOut", "latencyMs", "ttftMs", status, "costMicroEur", "createdAt")
  SELECT gen_random_uuid()::text, r.rid, o.id, k.id, d.id, r.endpoint, r.tin, r.tout, r.lat, r.ttft, r.status, r.cost, r.at
  FROM rows r
  JOIN "Organization" o ON o.id = r.org
  LEFT JOIN "ApiKey" k ON k.id = r.apikey
  LEFT JOIN "Deployment" d ON d.id = r.dep
  ON CONFLICT ("requestId") DO NOTHING
  RETURNING 1
), used AS (
  UPDATE "ApiKey" k SET "lastUsedAt" = u.at
  FROM (SELECT apikey, max(at) AS at FROM rows WHERE apikey IS NOT NULL GROUP BY apikey) u
  WHERE k.id = u.apikey AND (k."lastUsedAt" IS NULL OR k."lastUsedAt" < u.at)
  RETURNING 1
)
SELECT (SELECT count(*) FROM inserted)::int AS inserted`;

/** SQLSTATE classes that mean "this record is bad" (data exception, integrity); anything else is retried. */
export const BAD_RECORD_SQLSTATE = /^(22|23)/;

export function insertParams(entries: UsageEntry[]) {
  const n = entries.length;
  const cols: unknown[][] = Array.from({ length: 12 }, () => new Array(n));
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
  }
  return cols;
}

