import { z } from "zod";
import { residencyRuleInput } from "../../../lib/residency";
import { deleteResidencyPolicy, deploymentCompliance, putResidencyPolicy, residencyImpact } from "../../services/residency";
import { deploymentComplianceOutput, residencyImpactOutput, residencyPolicy, residencyPolicyRemoved } from "../outputs/residency";
import { dataClassification } from "../schemas";
import { orgProcedure, router } from "../trpc";

// docs/residency.md. Any member reads (the list stays GET /orgs/{orgId}/residency-policies, compliance.residencyPolicies);
// owners and admins (and `manage` keys) change them. Every change reaches every gateway process within a second (NOTIFY enclave_residency).
const tags = ["Residency"];
const target = z.object({ dataClassification });
const propagation = "Effective on every gateway process within a second; audit-logged with the policy before and after.";

export const residencyRouter = router({
  put: orgProcedure
    .requires("ADMIN")
    .meta({
      openapi: {
        method: "PUT",
        path: "/orgs/{orgId}/residency-policies/{dataClassification}",
        tags,
        summary: "Create or replace the residency policy of a data class",
        description: `Empty lists do not restrict. Saving it unchanged writes nothing. ${propagation}`,
      },
    })
    .input(target.extend(residencyRuleInput.shape))
    .output(residencyPolicy)
    .mutation(({ ctx, input: { dataClassification, ...rule } }) => putResidencyPolicy(ctx.org.id, ctx.actor, dataClassification, rule)),

  remove: orgProcedure
    .requires("ADMIN")
    .meta({
      openapi: {
        method: "DELETE",
        path: "/orgs/{orgId}/residency-policies/{dataClassification}",
        tags,
        summary: "Remove the residency policy of a data class",
        description: `The class is then unrestricted, except RESTRICTED, refused everywhere until a policy exists. ${propagation}`,
      },
    })
    .input(target)
    .output(residencyPolicyRemoved)
    .mutation(({ ctx, input }) => deleteResidencyPolicy(ctx.org.id, ctx.actor, input.dataClassification)),

  impact: orgProcedure
    .meta({
      openapi: {
        method: "POST",
        path: "/orgs/{orgId}/residency-policies/{dataClassification}/impact",
        tags,
        summary: "Preview what a residency policy change would do",
        description: "Writes nothing. For every live deployment of the class: its verdict now and under the proposed policy (`policy: null` previews the removal), and those that would stop or start complying.",
      },
    })
    .input(target.extend({ policy: residencyRuleInput.nullable().meta({ description: "The proposed policy; null: its removal" }) }))
    .output(residencyImpactOutput)
    .query(({ ctx, input }) => residencyImpact(ctx.org.id, input.dataClassification, input.policy)),

  compliance: orgProcedure
    .meta({
      openapi: {
        method: "GET",
        path: "/orgs/{orgId}/deployments/compliance",
        tags,
        summary: "Whether each live deployment complies with its data class's residency policy",
        description: "The same verdict the gateway applies to requests of the deployment's own class, with the reasons.",
      },
    })
    .output(deploymentComplianceOutput)
    .query(({ ctx }) => deploymentCompliance(ctx.org.id)),
});
