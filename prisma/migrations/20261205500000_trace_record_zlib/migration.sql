-- A trace's record is stored zlib-compressed by the gateway (server/gateway/trace-sql.ts): a 4.2 KB
-- `json` record cost PostgreSQL ~160 µs of CPU per row, its 1.1–1.3 KB compressed form ~21 µs
-- (docs/gateway.md, "What a trace row costs"). Rows written before keep their `record` (json); a row
-- has exactly one of the two. `stream` becomes a column (the list read it from the record); it is
-- null on the earlier rows, whose record says it.
ALTER TABLE "Trace" ALTER COLUMN "record" DROP NOT NULL;
ALTER TABLE "Trace" ADD COLUMN "recordZlib" BYTEA, ADD COLUMN "stream" BOOLEAN;
-- Already compressed: PostgreSQL's own compression would only cost time on the rare large record.
ALTER TABLE "Trace" ALTER COLUMN "recordZlib" SET STORAGE EXTERNAL;
ALTER TABLE "Trace" ADD CONSTRAINT "Trace_one_record" CHECK (("record" IS NULL) <> ("recordZlib" IS NULL));
