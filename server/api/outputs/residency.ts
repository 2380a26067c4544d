/** Output schemas of the residency procedures (routers/residency.ts, docs/residency.md). */
import { z } from "zod";
import { dataClassification, residencyPoliciesOutput } from "./tenant";

const text = z.string();

export const residencyPolicy = residencyPoliciesOutput.element;

export const residencyPolicyRemoved = z.object({ dataClassification, removed: z.literal(true) });

const verdict = z.object({ allowed: z.boolean(), reasons: z.array(text).meta({ description: "One sentence per unmet rule; empty when allowed" }) });

export const residencyImpactOutput = (() => {
  const row = z.object({
    deploymentId: text,
    deploymentName: text,
    region: z.object({ id: text, code: text, name: text }),
    current: verdict.meta({ description: "The verdict under the policy in force (none: RESTRICTED refused, other classes allowed)" }),
    proposed: verdict.meta({ description: "The verdict under the proposed policy (or without any, for a removal)" }),
    change: z.enum(["stops_complying", "starts_complying", "still_compliant", "still_non_compliant"]),
  });
  return z.object({
    dataClassification,
    currentPolicy: z.boolean().meta({ description: "A policy is in force for this class" }),
    proposedPolicy: z.boolean().meta({ description: "False when previewing the removal of the policy" }),
    deployments: z.array(row).meta({ description: "Every live deployment of this data class" }),
    stopComplying: z.array(row).meta({ description: "Those the change would refuse: the gateway refuses their class to them at once" }),
    startComplying: z.array(row),
  });
})();

export const deploymentComplianceOutput = z.array(
  z.object({
    deploymentId: text,
    deploymentName: text,
    dataClassification,
    regionId: text,
    regionCode: text,
    status: z.enum(["compliant", "non_compliant"]),
    policy: z.enum(["applied", "none"]).meta({ description: "none: no policy for the class (RESTRICTED is then refused)" }),
    reasons: z.array(text),
    extraterritorialExposure: z.boolean(),
  }),
);
