-- A hub artifact's sha256 is known once Enclave has fetched and digested it, not before.
ALTER TABLE "CatalogModel" ALTER COLUMN "artifactSha256" DROP NOT NULL;
