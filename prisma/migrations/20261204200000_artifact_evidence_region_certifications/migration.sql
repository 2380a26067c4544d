-- Evidence per deployment (docs/evidence.md).

-- Region certifications with their details, and the EU Cloud Sovereignty Framework level.
-- Constant defaults / nullable columns: catalog changes only, no row is rewritten.
CREATE TYPE "SovereigntyLevel" AS ENUM ('SEAL_0', 'SEAL_1', 'SEAL_2', 'SEAL_3', 'SEAL_4');
ALTER TABLE "Region" ADD COLUMN "certificationDetails" JSONB NOT NULL DEFAULT '[]';
ALTER TABLE "Region" ADD COLUMN "sovereigntyLevel" "SovereigntyLevel";

-- The artifact check each replica's driver made before starting it.
ALTER TABLE "DeploymentReplica" ADD COLUMN "artifactStatus" TEXT;
ALTER TABLE "DeploymentReplica" ADD COLUMN "artifactSha256" TEXT;
ALTER TABLE "DeploymentReplica" ADD COLUMN "artifactExpectedSha256" TEXT;
ALTER TABLE "DeploymentReplica" ADD COLUMN "artifactCheckedAt" TIMESTAMP(3);
ALTER TABLE "DeploymentReplica" ADD COLUMN "artifactCheckedBy" TEXT;
ALTER TABLE "DeploymentReplica" ADD COLUMN "artifactNote" TEXT;
