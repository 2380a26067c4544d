-- A trace's record is stored as json (validated text) rather than jsonb: converting each 3 KB record
-- to jsonb cost PostgreSQL ~270 µs of CPU per request, six times the rest of the gateway's batch
-- write (server/gateway/trace-sql.ts, docs/benchmarks.md). The record is read whole, by one trace's
-- view; the columns beside it are what lists filter on.
ALTER TABLE "Trace" ALTER COLUMN "record" TYPE json USING "record"::json;
