import type { DataClassification } from "../generated/prisma/enums";

/**
 * Residency policy: which regions may process a class of data. The one source of truth, used by
 * the regions read model, deployments (placement) and the gateway (every request).
 */

/** ISO 3166-1 alpha-2 codes of the EU member states: a policy allowing "EU" allows each of them. */
export const EU_MEMBER_STATES: readonly string[] = [
  "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
  "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
];

export interface ResidencyPolicyRule {
  dataClassification: DataClassification;
  allowedJurisdictions: string[];
  requiredCertifications: string[];
  /** When non-empty, only these regions (ids) are allowed. */
  allowedRegionIds: string[];
  allowExtraterritorial: boolean;
}

export interface RegionFacts {
  id: string;
  code: string;
  jurisdiction: string;
  certifications: string[];
  extraterritorialExposure: boolean;
}

export interface ResidencyVerdict {
  allowed: boolean;
  /** Why the region is refused, one sentence per unmet rule; empty when allowed. */
  reasons: string[];
}

// "ISO 27001", "iso-27001" and "ISO27001" name the same certification.
const normaliseCertification = (name: string) => name.toLowerCase().replace(/[\s_-]+/g, "");

function jurisdictionAllowed(allowed: string[], jurisdiction: string): boolean {
  const j = jurisdiction.toUpperCase();
  return allowed.some((a) => {
    const rule = a.toUpperCase();
    return rule === j || (rule === "EU" && EU_MEMBER_STATES.includes(j));
  });
}

/** Why RESTRICTED data is refused in a region when its organisation has no policy for it. */
export const RESTRICTED_WITHOUT_POLICY = "no residency policy for RESTRICTED data: restricted data is refused until the organisation sets one";

/**
 * Whether `region` may hold `dataClassification` data under `policy` (the organisation's policy for
 * that class, or null when it has none). Without a policy, RESTRICTED data is refused everywhere
 * (docs/residency.md) and the other classes are unrestricted. Every unmet rule is reported, not
 * only the first, so a person sees everything to change.
 */
export function evaluateResidency(dataClassification: DataClassification, policy: ResidencyPolicyRule | null, region: RegionFacts): ResidencyVerdict {
  if (policy && policy.dataClassification !== dataClassification) throw new Error(`a ${policy.dataClassification} policy cannot judge ${dataClassification} data`);
  if (!policy) return dataClassification === "RESTRICTED" ? { allowed: false, reasons: [RESTRICTED_WITHOUT_POLICY] } : { allowed: true, reasons: [] };
  const dataClass = policy.dataClassification;
  const reasons: string[] = [];
  if (policy.allowedRegionIds.length > 0 && !policy.allowedRegionIds.includes(region.id)) {
    reasons.push(`region ${region.code} is not among the regions allowed for ${dataClass} data`);
  }
  if (policy.allowedJurisdictions.length > 0 && !jurisdictionAllowed(policy.allowedJurisdictions, region.jurisdiction)) {
    reasons.push(`jurisdiction ${region.jurisdiction} is not allowed for ${dataClass} data`);
  }
  const held = new Set(region.certifications.map(normaliseCertification));
  for (const certification of policy.requiredCertifications) {
    if (!held.has(normaliseCertification(certification))) reasons.push(`missing certification ${certification}`);
  }
  if (region.extraterritorialExposure && !policy.allowExtraterritorial) {
    reasons.push("operator exposed to extraterritorial law");
  }
  return { allowed: reasons.length === 0, reasons };
}
