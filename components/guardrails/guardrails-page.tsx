"use client";
/** The console's guardrails page (docs/guardrails.md, "Policies"): defaults, overrides, and what a request gets. */
import { roleAtLeast } from "@/lib/roles";
import { useCurrentOrg } from "../shell/org-context";
import { PageHeader } from "../ui/layout";
import { DefaultsCard } from "./defaults-card";
import { EffectiveCard } from "./effective-card";
import { OverridesCard } from "./overrides-card";

export function GuardrailsPage() {
  const org = useCurrentOrg();
  const canEdit = roleAtLeast(org.role, "ADMIN");
  return (
    <>
      <PageHeader
        title="Guardrails"
        description="Which checks the gateway runs on prompts and answers — JSON schema, personal data, groundedness — and what each does: observe (record the verdict in the trace), redact, or block. Changes apply on every gateway within a second."
      />
      <div className="space-y-6">
        <DefaultsCard canEdit={canEdit} />
        <OverridesCard canEdit={canEdit} />
        <EffectiveCard />
      </div>
    </>
  );
}
