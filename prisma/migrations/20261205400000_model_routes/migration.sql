-- Routes (docs/routes.md): one model name served by several of an organisation's deployments.
CREATE TYPE "ModelRouteMode" AS ENUM ('PRIORITY', 'WEIGHTED');

CREATE TABLE "ModelRoute" (
    "id" TEXT NOT NULL,
    "orgId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "mode" "ModelRouteMode" NOT NULL DEFAULT 'PRIORITY',
    "dataClassification" "DataClassification" NOT NULL DEFAULT 'INTERNAL',
    "maxInFlightPerReplica" INTEGER NOT NULL DEFAULT 4,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "ModelRoute_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "ModelRouteMember" (
    "id" TEXT NOT NULL,
    "modelRouteId" TEXT NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "weight" INTEGER NOT NULL DEFAULT 1,
    CONSTRAINT "ModelRouteMember_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "ModelRoute_orgId_name_key" ON "ModelRoute"("orgId", "name");
CREATE UNIQUE INDEX "ModelRouteMember_modelRouteId_deploymentId_key" ON "ModelRouteMember"("modelRouteId", "deploymentId");
CREATE INDEX "ModelRouteMember_deploymentId_idx" ON "ModelRouteMember"("deploymentId");

ALTER TABLE "ModelRoute" ADD CONSTRAINT "ModelRoute_orgId_fkey" FOREIGN KEY ("orgId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "ModelRouteMember" ADD CONSTRAINT "ModelRouteMember_modelRouteId_fkey" FOREIGN KEY ("modelRouteId") REFERENCES "ModelRoute"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "ModelRouteMember" ADD CONSTRAINT "ModelRouteMember_deploymentId_fkey" FOREIGN KEY ("deploymentId") REFERENCES "Deployment"("id") ON DELETE CASCADE ON UPDATE CASCADE;
