-- Prices and budgets (docs/budgets.md): per-token prices on catalog models, an organisation's
-- monthly budget with alert thresholds, budget alerts, and the organisation's signed webhook with
-- its deliveries.

-- Per-token prices, in micro-euros per million tokens; 0: calls are not charged per token.
ALTER TABLE "CatalogModel" ADD COLUMN "inputMicroEurPerMillionTokens" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "outputMicroEurPerMillionTokens" INTEGER NOT NULL DEFAULT 0,
  ADD CONSTRAINT "CatalogModel_token_prices_check" CHECK ("inputMicroEurPerMillionTokens" >= 0 AND "outputMicroEurPerMillionTokens" >= 0);

CREATE TYPE "BudgetMode" AS ENUM ('SOFT', 'HARD');

ALTER TABLE "Organization" ADD COLUMN "monthlyBudgetCents" INTEGER,
  ADD COLUMN "budgetMode" "BudgetMode" NOT NULL DEFAULT 'SOFT',
  ADD COLUMN "budgetAlertThresholds" INTEGER[] DEFAULT ARRAY[50, 80, 100]::INTEGER[],
  ADD CONSTRAINT "Organization_monthlyBudgetCents_check" CHECK ("monthlyBudgetCents" IS NULL OR "monthlyBudgetCents" > 0);

CREATE TABLE "BudgetAlert" (
    "id" TEXT NOT NULL,
    "orgId" TEXT NOT NULL,
    "month" DATE NOT NULL,
    "threshold" INTEGER NOT NULL,
    "budgetCents" INTEGER NOT NULL,
    "mode" "BudgetMode" NOT NULL,
    "spentMicroEur" BIGINT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "BudgetAlert_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "BudgetAlert_orgId_month_threshold_budgetCents_key" ON "BudgetAlert"("orgId", "month", "threshold", "budgetCents");
CREATE INDEX "BudgetAlert_orgId_createdAt_idx" ON "BudgetAlert"("orgId", "createdAt");
ALTER TABLE "BudgetAlert" ADD CONSTRAINT "BudgetAlert_orgId_fkey" FOREIGN KEY ("orgId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "Webhook" (
    "id" TEXT NOT NULL,
    "orgId" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "secretSalt" TEXT NOT NULL,
    "secretHint" TEXT NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdById" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Webhook_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "Webhook_orgId_key" ON "Webhook"("orgId");
ALTER TABLE "Webhook" ADD CONSTRAINT "Webhook_orgId_fkey" FOREIGN KEY ("orgId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TYPE "WebhookDeliveryStatus" AS ENUM ('PENDING', 'DELIVERED', 'FAILED');

CREATE TABLE "WebhookDelivery" (
    "id" TEXT NOT NULL,
    "orgId" TEXT NOT NULL,
    "webhookId" TEXT NOT NULL,
    "eventId" TEXT NOT NULL,
    "eventType" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "status" "WebhookDeliveryStatus" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lockedUntil" TIMESTAMP(3),
    "attemptLog" JSONB NOT NULL DEFAULT '[]',
    "deliveredAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WebhookDelivery_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "WebhookDelivery_eventId_key" ON "WebhookDelivery"("eventId");
CREATE INDEX "WebhookDelivery_status_nextAttemptAt_idx" ON "WebhookDelivery"("status", "nextAttemptAt");
CREATE INDEX "WebhookDelivery_orgId_createdAt_idx" ON "WebhookDelivery"("orgId", "createdAt");
ALTER TABLE "WebhookDelivery" ADD CONSTRAINT "WebhookDelivery_orgId_fkey" FOREIGN KEY ("orgId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "WebhookDelivery" ADD CONSTRAINT "WebhookDelivery_webhookId_fkey" FOREIGN KEY ("webhookId") REFERENCES "Webhook"("id") ON DELETE CASCADE ON UPDATE CASCADE;
