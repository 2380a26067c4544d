-- The starter quota (docs/onboarding.md): what every new organisation receives at creation.
CREATE TABLE "StarterQuota" (
    "id" TEXT NOT NULL,
    "regionId" TEXT NOT NULL,
    "gpuTypeId" TEXT NOT NULL,
    "limitGpus" INTEGER NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "updatedById" TEXT,
    CONSTRAINT "StarterQuota_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "StarterQuota_regionId_gpuTypeId_key" ON "StarterQuota"("regionId", "gpuTypeId");

ALTER TABLE "StarterQuota" ADD CONSTRAINT "StarterQuota_regionId_fkey" FOREIGN KEY ("regionId") REFERENCES "Region"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "StarterQuota" ADD CONSTRAINT "StarterQuota_gpuTypeId_fkey" FOREIGN KEY ("gpuTypeId") REFERENCES "GpuType"("id") ON DELETE CASCADE ON UPDATE CASCADE;
