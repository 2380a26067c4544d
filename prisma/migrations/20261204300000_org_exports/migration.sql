-- Exports of an organisation (docs/export-format.md): the archive is a file in the installation's
-- export directory (EXPORTS_DIR), this row says which, with its size and SHA-256.
CREATE TABLE "OrgExport" (
    "id" TEXT NOT NULL,
    "orgId" TEXT NOT NULL,
    "fileName" TEXT NOT NULL,
    "sha256" TEXT NOT NULL,
    "bytes" BIGINT NOT NULL,
    "createdById" TEXT,
    "createdByLabel" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "OrgExport_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "OrgExport_fileName_key" ON "OrgExport"("fileName");
CREATE INDEX "OrgExport_orgId_createdAt_idx" ON "OrgExport"("orgId", "createdAt");
ALTER TABLE "OrgExport" ADD CONSTRAINT "OrgExport_orgId_fkey" FOREIGN KEY ("orgId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The audit log of an organisation imported from another installation, kept read-only as it was
-- verified (its archive files, under audit/ there): a re-export carries it under audit/imported/.
CREATE TABLE "ImportedAuditLog" (
    "id" TEXT NOT NULL,
    "orgId" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "sourceInstallation" TEXT NOT NULL,
    "sourceVerifierKey" TEXT NOT NULL,
    "sourceChain" TEXT NOT NULL,
    "sourceExportedAt" TIMESTAMP(3) NOT NULL,
    "events" INTEGER NOT NULL,
    "verifiedTreeSize" INTEGER,
    "files" JSONB NOT NULL,
    "importedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ImportedAuditLog_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "ImportedAuditLog_orgId_position_key" ON "ImportedAuditLog"("orgId", "position");
ALTER TABLE "ImportedAuditLog" ADD CONSTRAINT "ImportedAuditLog_orgId_fkey" FOREIGN KEY ("orgId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;
