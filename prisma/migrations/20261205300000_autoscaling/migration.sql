-- Autoscaling (docs/autoscaling.md): the policy, the gateways' load signal, and the decision samples.
CREATE TABLE "AutoscalingPolicy" (
    "deploymentId" TEXT NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "targetInFlight" DOUBLE PRECISION NOT NULL,
    "scaleUpWindowSeconds" INTEGER NOT NULL,
    "scaleDownWindowSeconds" INTEGER NOT NULL,
    "idleTimeoutSeconds" INTEGER NOT NULL,
    "lastActiveAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastRefusal" TEXT,
    "lastRefusedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "AutoscalingPolicy_pkey" PRIMARY KEY ("deploymentId")
);

CREATE TABLE "GatewayLoad" (
    "gatewayId" TEXT NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "inFlight" DOUBLE PRECISION NOT NULL,
    "queued" INTEGER NOT NULL,
    "requests" INTEGER NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "GatewayLoad_pkey" PRIMARY KEY ("gatewayId","deploymentId")
);

CREATE TABLE "AutoscaleSample" (
    "id" BIGSERIAL NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "replicas" INTEGER NOT NULL,
    "maxReplicas" INTEGER NOT NULL,
    "gpusPerReplica" INTEGER NOT NULL,
    "inFlight" DOUBLE PRECISION NOT NULL,
    "queued" INTEGER NOT NULL,
    "recommended" INTEGER NOT NULL,
    CONSTRAINT "AutoscaleSample_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "GatewayLoad_deploymentId_updatedAt_idx" ON "GatewayLoad"("deploymentId", "updatedAt");
CREATE INDEX "AutoscaleSample_deploymentId_at_idx" ON "AutoscaleSample"("deploymentId", "at");

ALTER TABLE "AutoscalingPolicy" ADD CONSTRAINT "AutoscalingPolicy_deploymentId_fkey" FOREIGN KEY ("deploymentId") REFERENCES "Deployment"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "GatewayLoad" ADD CONSTRAINT "GatewayLoad_deploymentId_fkey" FOREIGN KEY ("deploymentId") REFERENCES "Deployment"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "AutoscaleSample" ADD CONSTRAINT "AutoscaleSample_deploymentId_fkey" FOREIGN KEY ("deploymentId") REFERENCES "Deployment"("id") ON DELETE CASCADE ON UPDATE CASCADE;
