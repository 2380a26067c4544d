-- Signed checkpoints of the audit Merkle logs, and sealed usage hours (issue 13, docs/audit-log.md).
CREATE TABLE "AuditCheckpoint" (
    "id" TEXT NOT NULL,
    "chain" TEXT NOT NULL,
    "treeSize" INTEGER NOT NULL,
    "rootHash" TEXT NOT NULL,
    "origin" TEXT NOT NULL,
    "time" TIMESTAMP(3) NOT NULL,
    "note" TEXT NOT NULL,
    "witnessedAt" TIMESTAMP(3),
    "witnessCosignature" TEXT,
    "witnessNote" TEXT,
    "witnessError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AuditCheckpoint_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "AuditCheckpoint_chain_treeSize_key" ON "AuditCheckpoint"("chain", "treeSize");

CREATE TABLE "UsageHourSeal" (
    "orgId" TEXT NOT NULL,
    "hour" TIMESTAMP(3) NOT NULL,
    "records" INTEGER NOT NULL,
    "digest" TEXT NOT NULL,
    "sealedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "amendedAt" TIMESTAMP(3),

    CONSTRAINT "UsageHourSeal_pkey" PRIMARY KEY ("orgId", "hour")
);
