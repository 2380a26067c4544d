import { z } from "zod";
import { deploymentEvidence } from "../../services/evidence";
import { deploymentEvidenceOutput } from "../outputs/evidence";
import { id } from "../schemas";
import { orgProcedure, router } from "../trpc";

export const evidenceRouter = router({
  deployment: orgProcedure
    .requires("MEMBER")
    .meta({
      openapi: {
        method: "GET",
        path: "/orgs/{orgId}/deployments/{deploymentId}/evidence",
        tags: ["Deployments"],
        summary: "The evidence of a deployment",
        description:
          "Where it runs and under which rules, as evidence: the region (operator, jurisdiction, certifications with validity, extraterritorial exposure, sovereignty level), the model (licence, openness, origin, artifact and the sha256 verified per replica), the residency verdict, the guardrails in force with 30 days of verdicts, and its audit events with inclusion proofs under the latest signed checkpoint (docs/evidence.md).",
      },
    })
    .input(z.object({ deploymentId: id("deploymentId") }))
    .output(deploymentEvidenceOutput)
    .query(({ ctx, input }) => deploymentEvidence(ctx.org.id, input.deploymentId)),
});
