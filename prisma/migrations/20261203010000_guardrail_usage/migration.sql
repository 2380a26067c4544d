-- Guardrail verdicts on the usage records and in their roll-ups (docs/usage.md, "Guardrail
-- verdicts"; docs/guardrails.md, "Dashboards").
--
-- A raw row carries one code per verdict of its request (`outcomeCode(rule, outcome)` in
-- server/guardrails/types.ts: rule index × 8 + outcome index); NULL for rows written before this
-- migration, which count no verdict. The deltas carry the codes of their rows as a list (like the
-- error statuses) and every roll-up row counts them: {"<code>": n}.

-- ---- raw rows ----

-- On the partitioned table itself: PostgreSQL adds the column to every partition (the DEFAULT one
-- included) in the same statement, so the partitions keep the parent's columns in the parent's
-- order (partition upkeep's `CREATE TABLE … (LIKE "UsageRecord")` + `INSERT … SELECT *` relies on
-- it, and ATTACH PARTITION needs the same columns). Nullable without a default: a catalog change
-- only, no row is rewritten, whatever the table's size.
ALTER TABLE "UsageRecord" ADD COLUMN "guardrails" SMALLINT[];

-- ---- deltas and roll-ups: a constant default is a catalog change too (no rewrite) ----

ALTER TABLE "UsageDelta" ADD COLUMN "guardrails" SMALLINT[] NOT NULL DEFAULT '{}';
ALTER TABLE "UsageHourly" ADD COLUMN "guardrails" JSONB NOT NULL DEFAULT '{}';
ALTER TABLE "UsageDaily" ADD COLUMN "guardrails" JSONB NOT NULL DEFAULT '{}';
ALTER TABLE "UsageHourlyTotal" ADD COLUMN "guardrails" JSONB NOT NULL DEFAULT '{}';
ALTER TABLE "UsageDailyTotal" ADD COLUMN "guardrails" JSONB NOT NULL DEFAULT '{}';

-- The codes of a group of rows, concatenated (array_cat is C; a NULL list adds nothing).
CREATE AGGREGATE usage_codes_cat(smallint[]) (SFUNC = array_cat, STYPE = smallint[], INITCOND = '{}', PARALLEL = SAFE);

-- Counts of small integers ({"429": 3} for statuses, {"9": 2} for guardrail codes), times sign.
-- An empty list is the common case (a row without error): no unpacking then.
CREATE OR REPLACE FUNCTION usage_status_counts(statuses integer[], sign integer) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF statuses IS NULL OR cardinality(statuses) = 0 THEN RETURN '{}'::jsonb; END IF;
  RETURN (
    SELECT coalesce(jsonb_object_agg(t.s::text, t.n * sign), '{}'::jsonb)
    FROM (SELECT s, count(*)::integer AS n FROM unnest(statuses) AS s GROUP BY s) t
  );
END
$$;

-- The trigger of 20261202010000_usage_rollups, plus the codes of the statement's rows.
-- (server/services/usage-rollup.ts HOURS_FROM_RAW_SQL computes the same from raw rows; a test checks they agree.)
CREATE OR REPLACE FUNCTION usage_record_deltas() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  s integer := TG_ARGV[0]::integer;
BEGIN
  INSERT INTO "UsageDelta" ("orgId", "hour", "deploymentId", "apiKeyId", "sign", "requests", "errors", "tokensIn", "tokensOut", "costMicroEur",
                            "latencySumMs", "ttftCount", "ttftSumMs", "generationMs", "tokensOutStreamed", "latencyBuckets", "ttftBuckets", "errorStatuses",
                            "guardrails")
  SELECT r."orgId", date_trunc('hour', r."createdAt"), coalesce(r."deploymentId", ''), coalesce(r."apiKeyId", ''), s,
         s * count(*), s * count(*) FILTER (WHERE r.status >= 400),
         s * sum(r."tokensIn"), s * sum(r."tokensOut"), s * sum(r."costMicroEur"),
         s * sum(r."latencyMs"::float8), s * count(r."ttftMs"), s * coalesce(sum(r."ttftMs"::float8), 0),
         s * coalesce(sum(r."latencyMs"::float8 - r."ttftMs"::float8) FILTER (WHERE r.stream), 0),
         s * coalesce(sum(r."tokensOut") FILTER (WHERE r.stream AND r."ttftMs" IS NOT NULL), 0),
         array_agg(width_bucket(r."latencyMs"::float8, usage_histogram_bounds())::smallint),
         coalesce(array_agg(width_bucket(r."ttftMs"::float8, usage_histogram_bounds())::smallint) FILTER (WHERE r."ttftMs" IS NOT NULL), '{}'),
         coalesce(array_agg(r.status) FILTER (WHERE r.status >= 400), '{}'),
         usage_codes_cat(r."guardrails")
  FROM changed_rows r
  GROUP BY 1, 2, 3, 4;
  RETURN NULL;
END
$$;
