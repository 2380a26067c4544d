-- Reconcile loop (workers/reconcile/deployment.ts): a lease per deployment, backoff, GPU metering.
ALTER TABLE "Deployment" ADD COLUMN "leaseOwner" TEXT;
ALTER TABLE "Deployment" ADD COLUMN "leaseExpiresAt" TIMESTAMP(3);
ALTER TABLE "Deployment" ADD COLUMN "reconcileFailures" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "DeploymentReplica" ADD COLUMN "meteredUntil" TIMESTAMP(3);
CREATE INDEX "DeploymentReplica_state_idx" ON "DeploymentReplica"("state");
