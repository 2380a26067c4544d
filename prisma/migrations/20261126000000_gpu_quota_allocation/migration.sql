-- GPU allocation against quotas and region capacity (server/services/allocation.ts).

-- Why an organisation was suspended.
ALTER TABLE "Organization" ADD COLUMN "statusReason" TEXT;

-- GPUs an organisation has reserved against each of its quotas.
ALTER TABLE "Quota" ADD COLUMN "allocatedGpus" INTEGER NOT NULL DEFAULT 0;

-- Until now the allocation was read from the deployments' reservations: carry it over.
UPDATE "Quota" q SET "allocatedGpus" = d.reserved
FROM (
  SELECT "orgId", "regionId", "gpuTypeId", SUM("reservedGpus")::INTEGER AS reserved
  FROM "Deployment" WHERE "deletedAt" IS NULL
  GROUP BY "orgId", "regionId", "gpuTypeId"
) d
WHERE q."orgId" = d."orgId" AND q."regionId" = d."regionId" AND q."gpuTypeId" = d."gpuTypeId";

-- No CHECK constraints (allocatedGpus <= limitGpus would be the natural backstop): Prisma's
-- WebAssembly schema engine panics when it introspects a CHECK constraint through the adapter
-- (`pg_constraint.contype` is a "char"), which would break every later `migrate diff`/`migrate dev`.
