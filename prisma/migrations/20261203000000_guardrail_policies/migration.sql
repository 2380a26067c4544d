-- Guardrail policies (docs/guardrails.md, "Policies"): an organisation's defaults, and the overrides of
-- its deployments and API keys. The gateways hold them in memory, reloaded on NOTIFY enclave_guardrails.

CREATE TABLE "GuardrailPolicy" (
    "id" TEXT NOT NULL,
    "orgId" TEXT NOT NULL,
    "deploymentId" TEXT,
    "apiKeyId" TEXT,
    "rules" JSONB NOT NULL,
    "piiTypes" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "judge" JSONB,
    "groundedThreshold" DOUBLE PRECISION,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "GuardrailPolicy_pkey" PRIMARY KEY ("id"),
    -- An override belongs to a deployment or to a key, never both.
    CONSTRAINT "GuardrailPolicy_one_target_check" CHECK ("deploymentId" IS NULL OR "apiKeyId" IS NULL),
    CONSTRAINT "GuardrailPolicy_rules_object_check" CHECK (jsonb_typeof("rules") = 'object'),
    CONSTRAINT "GuardrailPolicy_groundedThreshold_check" CHECK ("groundedThreshold" IS NULL OR ("groundedThreshold" >= 0 AND "groundedThreshold" <= 1))
);

CREATE UNIQUE INDEX "GuardrailPolicy_deploymentId_key" ON "GuardrailPolicy"("deploymentId");
CREATE UNIQUE INDEX "GuardrailPolicy_apiKeyId_key" ON "GuardrailPolicy"("apiKeyId");
-- At most one set of defaults per organisation.
CREATE UNIQUE INDEX "GuardrailPolicy_org_defaults_key" ON "GuardrailPolicy"("orgId") WHERE "deploymentId" IS NULL AND "apiKeyId" IS NULL;
CREATE INDEX "GuardrailPolicy_orgId_idx" ON "GuardrailPolicy"("orgId");

ALTER TABLE "GuardrailPolicy" ADD CONSTRAINT "GuardrailPolicy_orgId_fkey" FOREIGN KEY ("orgId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "GuardrailPolicy" ADD CONSTRAINT "GuardrailPolicy_deploymentId_fkey" FOREIGN KEY ("deploymentId") REFERENCES "Deployment"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "GuardrailPolicy" ADD CONSTRAINT "GuardrailPolicy_apiKeyId_fkey" FOREIGN KEY ("apiKeyId") REFERENCES "ApiKey"("id") ON DELETE CASCADE ON UPDATE CASCADE;
