-- Gateway quota leases (server/gateway/limits.ts): per API key, per kind (requests | tokens per
-- minute, budget per month) and per window, how much allowance PostgreSQL has handed out to
-- gateway processes. UNLOGGED (no WAL on the lease path): a database crash only resets the current
-- windows, and a budget row is rebuilt from "UsageRecord". No foreign key: rows are short-lived and
-- a periodic clean-up removes old windows.
CREATE UNLOGGED TABLE "GatewayAllowance" (
    "apiKeyId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "windowStart" TIMESTAMP(3) NOT NULL,
    "granted" BIGINT NOT NULL,
    "lastGrant" BIGINT NOT NULL DEFAULT 0,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "GatewayAllowance_pkey" PRIMARY KEY ("apiKeyId","kind","windowStart")
);
