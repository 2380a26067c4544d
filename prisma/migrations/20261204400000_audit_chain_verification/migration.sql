-- The last verification result of each audit chain (issue 13, compliance dashboard).
CREATE TABLE "AuditChainVerification" (
    "chain" TEXT NOT NULL,
    "ok" BOOLEAN NOT NULL,
    "events" INTEGER NOT NULL,
    "brokenAtSeq" INTEGER,
    "reason" TEXT,
    "checkedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "AuditChainVerification_pkey" PRIMARY KEY ("chain")
);
