-- The trace of every request through the gateway, partitioned by month (server/db/partitions.ts
-- creates the monthly partitions; the DEFAULT partition catches anything outside them).
CREATE TABLE "Trace" (
    "spanId" CHAR(16) NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL,
    "traceId" CHAR(32) NOT NULL,
    "orgId" TEXT NOT NULL,
    "requestId" TEXT NOT NULL,
    "recordId" TEXT NOT NULL,
    "apiKeyId" TEXT,
    "deploymentId" TEXT,
    "regionId" TEXT,
    "model" TEXT,
    "endpoint" TEXT NOT NULL,
    "status" INTEGER NOT NULL,
    "errorCode" TEXT,
    "durationMs" REAL NOT NULL,
    "ttftMs" REAL,
    "tokensIn" INTEGER NOT NULL,
    "tokensOut" INTEGER NOT NULL,
    "costMicroEur" INTEGER NOT NULL,
    "dataClass" TEXT,
    "record" JSONB NOT NULL,
    "content" JSONB,

    CONSTRAINT "Trace_pkey" PRIMARY KEY ("spanId", "startedAt")
) PARTITION BY RANGE ("startedAt");

CREATE TABLE "Trace_default" PARTITION OF "Trace" DEFAULT;

CREATE INDEX "Trace_orgId_startedAt_idx" ON "Trace"("orgId", "startedAt" DESC);
CREATE INDEX "Trace_orgId_traceId_idx" ON "Trace"("orgId", "traceId");
CREATE INDEX "Trace_orgId_deploymentId_startedAt_idx" ON "Trace"("orgId", "deploymentId", "startedAt" DESC);
CREATE INDEX "Trace_orgId_apiKeyId_startedAt_idx" ON "Trace"("orgId", "apiKeyId", "startedAt" DESC);
