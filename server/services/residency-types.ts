import type { DataClassification } from "../generated/prisma/enums";

/**
 * Contract between residency policies (server/services/residency.ts), the evidence page and the
 * compliance dashboard (issue 13). `deploymentCompliance(orgId)` in server/services/residency.ts
 * returns one of these per live (not deleted) deployment of the organisation.
 */
export interface DeploymentCompliance {
  deploymentId: string;
  deploymentName: string;
  dataClassification: DataClassification;
  regionId: string;
  regionCode: string;
  /** compliant: the policy allows the region; non_compliant: it refuses it (reasons say why). */
  status: "compliant" | "non_compliant";
  /** "applied": a policy exists for the data class; "none": no policy (RESTRICTED is then refused). */
  policy: "applied" | "none";
  reasons: string[];
  extraterritorialExposure: boolean;
}
