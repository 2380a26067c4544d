-- The mail outbox (docs/email.md): invitations, quota decisions and budget alerts, sent by the workers.
CREATE TYPE "MailKind" AS ENUM ('INVITATION', 'QUOTA_DECISION', 'BUDGET_ALERT');
CREATE TYPE "MailStatus" AS ENUM ('QUEUED', 'SENT', 'FAILED', 'OUTBOX_ONLY');

CREATE TABLE "MailMessage" (
    "id" TEXT NOT NULL,
    "orgId" TEXT,
    "kind" "MailKind" NOT NULL,
    "to" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "text" TEXT NOT NULL,
    "html" TEXT,
    "status" "MailStatus" NOT NULL DEFAULT 'QUEUED',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lockedUntil" TIMESTAMP(3),
    "lastError" TEXT,
    "sentAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "MailMessage_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "MailMessage_status_nextAttemptAt_idx" ON "MailMessage"("status", "nextAttemptAt");
CREATE INDEX "MailMessage_createdAt_idx" ON "MailMessage"("createdAt");

ALTER TABLE "MailMessage" ADD CONSTRAINT "MailMessage_orgId_fkey" FOREIGN KEY ("orgId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;
