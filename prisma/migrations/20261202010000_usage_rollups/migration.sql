-- Usage at scale (docs/usage.md): slim raw rows partitioned by month, statement triggers that turn
-- every change into a "UsageDelta", and hourly and daily roll-ups with latency histograms.

-- ---- histograms (lib/histogram.ts: the same bounds, checked by tests/integration/usage-rollup.test.ts) ----

CREATE FUNCTION usage_histogram_bounds() RETURNS double precision[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '{0.5,0.63,0.794,1,1.26,1.59,2,2.52,3.17,4,5.04,6.35,8,10.1,12.7,16,20.2,25.4,32,40.3,50.8,64,80.6,102,128,161,203,256,323,406,512,645,813,1020,1290,1630,2050,2580,3250,4100,5160,6500,8190,10300,13000,16400,20600,26000,32800,41300,52000,65500,82600,104000,131000,165000,208000,262000,330000,416000,524000,661000}'::double precision[]
$$;

-- Counts per bucket (dense, one more than the bounds) from bucket numbers (width_bucket), times sign.
-- PL/pgSQL updates the array in place: 4 µs for a few values, 15× faster than the same in SQL
-- (generate_series joined to the counts), which made the trigger the slowest part of an insert.
-- (Histograms are summed by the roll-up's SQL bucket by bucket, sum(h[1]) … sum(h[63]): an aggregate
-- written in SQL or PL/pgSQL was five times slower.)
CREATE FUNCTION usage_histogram(buckets smallint[], sign integer) RETURNS integer[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  h integer[] := array_fill(0, ARRAY[cardinality(usage_histogram_bounds()) + 1]);
  b smallint;
BEGIN
  IF buckets IS NOT NULL THEN
    FOREACH b IN ARRAY buckets LOOP
      h[b + 1] := h[b + 1] + sign;
    END LOOP;
  END IF;
  RETURN h;
END
$$;

-- {"429": 3, "502": 1} from error statuses, times sign.
CREATE FUNCTION usage_status_counts(statuses integer[], sign integer) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF statuses IS NULL THEN RETURN '{}'::jsonb; END IF;
  RETURN (
    SELECT coalesce(jsonb_object_agg(t.s::text, t.n * sign), '{}'::jsonb)
    FROM (SELECT s, count(*)::integer AS n FROM unnest(statuses) AS s GROUP BY s) t
  );
END
$$;

CREATE FUNCTION usage_status_add(a jsonb, b jsonb) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  -- Most rows have no error: no unpacking then.
  IF b IS NULL OR b = '{}'::jsonb THEN RETURN coalesce(a, '{}'::jsonb); END IF;
  IF a IS NULL OR a = '{}'::jsonb THEN RETURN b; END IF;
  RETURN (
    SELECT coalesce(jsonb_object_agg(k, n), '{}'::jsonb)
    FROM (
      SELECT k, sum(v::integer) AS n
      FROM (SELECT key, value FROM jsonb_each_text(a) UNION ALL SELECT key, value FROM jsonb_each_text(b)) e(k, v)
      GROUP BY k HAVING sum(v::integer) <> 0
    ) t
  );
END
$$;

CREATE AGGREGATE usage_status_sum(jsonb) (SFUNC = usage_status_add, STYPE = jsonb, COMBINEFUNC = usage_status_add, PARALLEL = SAFE);

-- ---- roll-ups (the old, never written "UsageHourly" goes) ----

DROP TABLE "UsageHourly";

CREATE TABLE "UsageHourly" (
    "orgId" TEXT NOT NULL,
    "hour" TIMESTAMP(3) NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "apiKeyId" TEXT NOT NULL,
    "requests" INTEGER NOT NULL,
    "errors" INTEGER NOT NULL,
    "tokensIn" BIGINT NOT NULL,
    "tokensOut" BIGINT NOT NULL,
    "costMicroEur" BIGINT NOT NULL,
    "latencySumMs" DOUBLE PRECISION NOT NULL,
    "ttftCount" INTEGER NOT NULL,
    "ttftSumMs" DOUBLE PRECISION NOT NULL,
    "generationMs" DOUBLE PRECISION NOT NULL,
    "tokensOutStreamed" BIGINT NOT NULL,
    "latencyBuckets" INTEGER[],
    "ttftBuckets" INTEGER[],
    "errorsByStatus" JSONB NOT NULL,

    CONSTRAINT "UsageHourly_pkey" PRIMARY KEY ("orgId", "hour", "deploymentId", "apiKeyId")
);
CREATE INDEX "UsageHourly_hour_idx" ON "UsageHourly"("hour");

CREATE TABLE "UsageDaily" (
    "orgId" TEXT NOT NULL,
    "day" DATE NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "apiKeyId" TEXT NOT NULL,
    "requests" INTEGER NOT NULL,
    "errors" INTEGER NOT NULL,
    "tokensIn" BIGINT NOT NULL,
    "tokensOut" BIGINT NOT NULL,
    "costMicroEur" BIGINT NOT NULL,
    "latencySumMs" DOUBLE PRECISION NOT NULL,
    "ttftCount" INTEGER NOT NULL,
    "ttftSumMs" DOUBLE PRECISION NOT NULL,
    "generationMs" DOUBLE PRECISION NOT NULL,
    "tokensOutStreamed" BIGINT NOT NULL,
    "latencyBuckets" INTEGER[],
    "ttftBuckets" INTEGER[],
    "errorsByStatus" JSONB NOT NULL,

    CONSTRAINT "UsageDaily_pkey" PRIMARY KEY ("orgId", "day", "deploymentId", "apiKeyId")
);
CREATE INDEX "UsageDaily_day_idx" ON "UsageDaily"("day");

-- Totals over keys, deployments or both ("*"): what the dashboards read for charts.
CREATE TABLE "UsageHourlyTotal" (
    "orgId" TEXT NOT NULL,
    "hour" TIMESTAMP(3) NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "apiKeyId" TEXT NOT NULL,
    "requests" INTEGER NOT NULL,
    "errors" INTEGER NOT NULL,
    "tokensIn" BIGINT NOT NULL,
    "tokensOut" BIGINT NOT NULL,
    "costMicroEur" BIGINT NOT NULL,
    "latencySumMs" DOUBLE PRECISION NOT NULL,
    "ttftCount" INTEGER NOT NULL,
    "ttftSumMs" DOUBLE PRECISION NOT NULL,
    "generationMs" DOUBLE PRECISION NOT NULL,
    "tokensOutStreamed" BIGINT NOT NULL,
    "latencyBuckets" INTEGER[],
    "ttftBuckets" INTEGER[],
    "errorsByStatus" JSONB NOT NULL,

    CONSTRAINT "UsageHourlyTotal_pkey" PRIMARY KEY ("orgId", "hour", "deploymentId", "apiKeyId")
);
CREATE INDEX "UsageHourlyTotal_hour_idx" ON "UsageHourlyTotal"("hour");

CREATE TABLE "UsageDailyTotal" (
    "orgId" TEXT NOT NULL,
    "day" DATE NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "apiKeyId" TEXT NOT NULL,
    "requests" INTEGER NOT NULL,
    "errors" INTEGER NOT NULL,
    "tokensIn" BIGINT NOT NULL,
    "tokensOut" BIGINT NOT NULL,
    "costMicroEur" BIGINT NOT NULL,
    "latencySumMs" DOUBLE PRECISION NOT NULL,
    "ttftCount" INTEGER NOT NULL,
    "ttftSumMs" DOUBLE PRECISION NOT NULL,
    "generationMs" DOUBLE PRECISION NOT NULL,
    "tokensOutStreamed" BIGINT NOT NULL,
    "latencyBuckets" INTEGER[],
    "ttftBuckets" INTEGER[],
    "errorsByStatus" JSONB NOT NULL,

    CONSTRAINT "UsageDailyTotal_pkey" PRIMARY KEY ("orgId", "day", "deploymentId", "apiKeyId")
);
CREATE INDEX "UsageDailyTotal_day_idx" ON "UsageDailyTotal"("day");

-- Histograms and error statuses travel as lists (a bucket number, a status per row: 2 bytes each)
-- with the statement's sign: a delta of a gateway batch stays small, the fold makes them dense.
CREATE TABLE "UsageDelta" (
    "id" BIGSERIAL NOT NULL,
    "orgId" TEXT NOT NULL,
    "hour" TIMESTAMP(3) NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "apiKeyId" TEXT NOT NULL,
    "sign" SMALLINT NOT NULL,
    "requests" INTEGER NOT NULL,
    "errors" INTEGER NOT NULL,
    "tokensIn" BIGINT NOT NULL,
    "tokensOut" BIGINT NOT NULL,
    "costMicroEur" BIGINT NOT NULL,
    "latencySumMs" DOUBLE PRECISION NOT NULL,
    "ttftCount" INTEGER NOT NULL,
    "ttftSumMs" DOUBLE PRECISION NOT NULL,
    "generationMs" DOUBLE PRECISION NOT NULL,
    "tokensOutStreamed" BIGINT NOT NULL,
    "latencyBuckets" SMALLINT[] NOT NULL,
    "ttftBuckets" SMALLINT[] NOT NULL,
    "errorStatuses" SMALLINT[] NOT NULL,

    CONSTRAINT "UsageDelta_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "CapacityHourly" (
    "regionId" TEXT NOT NULL,
    "gpuTypeId" TEXT NOT NULL,
    "hour" TIMESTAMP(3) NOT NULL,
    "allocated" INTEGER NOT NULL,
    "capacity" INTEGER NOT NULL,

    CONSTRAINT "CapacityHourly_pkey" PRIMARY KEY ("regionId", "gpuTypeId", "hour")
);

-- ---- raw rows: slim, partitioned by month ----

ALTER TABLE "UsageRecord" RENAME TO "UsageRecord_before_partitioning";
ALTER TABLE "UsageRecord_before_partitioning" RENAME CONSTRAINT "UsageRecord_pkey" TO "UsageRecord_before_partitioning_pkey";

-- Columns ordered for alignment (8-byte, then 4, 2, 1, then text): 176 bytes a row on disk.
CREATE TABLE "UsageRecord" (
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "tokensIn" INTEGER NOT NULL,
    "tokensOut" INTEGER NOT NULL,
    "costMicroEur" INTEGER NOT NULL,
    "latencyMs" REAL NOT NULL,
    "ttftMs" REAL,
    "status" SMALLINT NOT NULL,
    "stream" BOOLEAN NOT NULL DEFAULT false,
    "orgId" TEXT NOT NULL,
    "apiKeyId" TEXT,
    "deploymentId" TEXT,
    "endpoint" TEXT NOT NULL,

    CONSTRAINT "UsageRecord_pkey" PRIMARY KEY ("createdAt", "id")
) PARTITION BY RANGE ("createdAt");

CREATE TABLE "UsageRecord_default" PARTITION OF "UsageRecord" DEFAULT;

-- The months the existing rows fall in, up to two months ahead (the workers keep that up: workers/jobs/maintain-partitions.ts).
DO $$
DECLARE
  m timestamp;
  last timestamp := date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months';
BEGIN
  SELECT date_trunc('month', coalesce(min("createdAt"), now() AT TIME ZONE 'UTC')) INTO m FROM "UsageRecord_before_partitioning";
  WHILE m <= last LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF "UsageRecord" FOR VALUES FROM (%L) TO (%L)', 'UsageRecord_' || to_char(m, 'YYYY_MM'), m, m + interval '1 month');
    m := m + interval '1 month';
  END LOOP;
END
$$;

-- Every statement that changes rows through "UsageRecord" leaves its deltas, in its transaction.
-- (Statements on a partition itself, as partition upkeep moving rows out of the default one, do not.)
CREATE FUNCTION usage_record_deltas() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  s integer := TG_ARGV[0]::integer;
BEGIN
  INSERT INTO "UsageDelta" ("orgId", "hour", "deploymentId", "apiKeyId", "sign", "requests", "errors", "tokensIn", "tokensOut", "costMicroEur",
                            "latencySumMs", "ttftCount", "ttftSumMs", "generationMs", "tokensOutStreamed", "latencyBuckets", "ttftBuckets", "errorStatuses")
  SELECT r."orgId", date_trunc('hour', r."createdAt"), coalesce(r."deploymentId", ''), coalesce(r."apiKeyId", ''), s,
         s * count(*), s * count(*) FILTER (WHERE r.status >= 400),
         s * sum(r."tokensIn"), s * sum(r."tokensOut"), s * sum(r."costMicroEur"),
         s * sum(r."latencyMs"::float8), s * count(r."ttftMs"), s * coalesce(sum(r."ttftMs"::float8), 0),
         s * coalesce(sum(r."latencyMs"::float8 - r."ttftMs"::float8) FILTER (WHERE r.stream), 0),
         s * coalesce(sum(r."tokensOut") FILTER (WHERE r.stream AND r."ttftMs" IS NOT NULL), 0),
         array_agg(width_bucket(r."latencyMs"::float8, usage_histogram_bounds())::smallint),
         coalesce(array_agg(width_bucket(r."ttftMs"::float8, usage_histogram_bounds())::smallint) FILTER (WHERE r."ttftMs" IS NOT NULL), '{}'),
         coalesce(array_agg(r.status) FILTER (WHERE r.status >= 400), '{}')
  FROM changed_rows r
  GROUP BY 1, 2, 3, 4;
  RETURN NULL;
END
$$;

CREATE TRIGGER "UsageRecord_inserted" AFTER INSERT ON "UsageRecord" REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_record_deltas('1');
CREATE TRIGGER "UsageRecord_deleted" AFTER DELETE ON "UsageRecord" REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_record_deltas('-1');
CREATE TRIGGER "UsageRecord_updated_old" AFTER UPDATE ON "UsageRecord" REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_record_deltas('-1');
CREATE TRIGGER "UsageRecord_updated_new" AFTER UPDATE ON "UsageRecord" REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_record_deltas('1');

-- Existing rows survive, with the id a replay of their spool record would get (md5 of the request id).
-- Their deltas make the workers roll the whole history up.
INSERT INTO "UsageRecord" ("createdAt", "id", "tokensIn", "tokensOut", "costMicroEur", "latencyMs", "ttftMs", "status", "stream", "orgId", "apiKeyId", "deploymentId", "endpoint")
SELECT "createdAt", md5("requestId")::uuid, "tokensIn", "tokensOut", "costMicroEur", "latencyMs", "ttftMs", "status", false, "orgId", "apiKeyId", "deploymentId", "endpoint"
FROM "UsageRecord_before_partitioning"
ON CONFLICT DO NOTHING;

DROP TABLE "UsageRecord_before_partitioning";
