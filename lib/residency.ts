/**
 * The residency policy form (docs/residency.md): what an owner or admin sets for one data class.
 * The server validates with this schema at the API's edge (tRPC and REST), the console's editor
 * with the very same one. Country codes come from i18n-iso-countries (the ISO 3166-1 alpha-2
 * list, maintained), not a hand-written table. Imports nothing of the project but lib/.
 */
import * as isoCountries from "i18n-iso-countries";
import { z } from "./zod";

// A CommonJS package: Node's own ESM loader (scripts run with tsx) exposes it as the default export only, bundlers as named exports too.
const countries: typeof isoCountries = (isoCountries as { default?: typeof isoCountries }).default ?? isoCountries;

/** ISO 3166-1 alpha-2 codes, plus "EU" (every member state). */
const ALPHA2 = new Set(Object.keys(countries.getAlpha2Codes()));
export const isJurisdictionCode = (code: string) => code === "EU" || ALPHA2.has(code);

/** "ISO 27001", "iso-27001" and "ISO27001" name the same certification (as server/services/policy.ts compares them). */
export const certificationKey = (name: string) => name.toLowerCase().replace(/[\s_-]+/g, "");

export const RESIDENCY_LIMITS = { jurisdictions: 60, certifications: 20, certificationLength: 40, regions: 200 } as const;

/** The first value seen twice, by `key`, or null. */
function firstDuplicate(values: string[], key: (v: string) => string = (v) => v): string | null {
  const seen = new Set<string>();
  for (const v of values) {
    const k = key(v);
    if (seen.has(k)) return v;
    seen.add(k);
  }
  return null;
}

const jurisdiction = z
  .string()
  .trim()
  .toUpperCase()
  .refine((code) => isJurisdictionCode(code), {
    error: (issue) => `${typeof issue.input === "string" ? `"${issue.input.slice(0, 12)}"` : "That"} is not an ISO 3166-1 alpha-2 country code nor EU: use e.g. FR, DE or EU`,
  });

const certification = z
  .string()
  .trim()
  .min(1, "A certification name cannot be empty")
  .max(RESIDENCY_LIMITS.certificationLength, `Use at most ${RESIDENCY_LIMITS.certificationLength} characters for a certification name`);

const regionId = z.string().min(1, "A region id cannot be empty").max(64, "A region id is at most 64 characters");

export const residencyRuleInput = z.object({
  allowedJurisdictions: z
    .array(jurisdiction)
    .max(RESIDENCY_LIMITS.jurisdictions, `At most ${RESIDENCY_LIMITS.jurisdictions} jurisdictions`)
    .default([])
    .superRefine((list, ctx) => {
      const dup = firstDuplicate(list);
      if (dup) ctx.addIssue({ code: "custom", message: `The jurisdiction ${dup} is listed twice` });
    })
    .meta({ description: 'ISO 3166-1 alpha-2 codes of the laws a region\'s operator may answer to, or "EU" for every member state; empty: any' }),
  requiredCertifications: z
    .array(certification)
    .max(RESIDENCY_LIMITS.certifications, `At most ${RESIDENCY_LIMITS.certifications} certifications`)
    .default([])
    .superRefine((list, ctx) => {
      const dup = firstDuplicate(list, certificationKey);
      if (dup) ctx.addIssue({ code: "custom", message: `The certification ${dup} is listed twice` });
    })
    .meta({ description: "Certifications a region must hold, all of them (compared ignoring case, spaces and dashes)" }),
  allowedRegionIds: z
    .array(regionId)
    .max(RESIDENCY_LIMITS.regions, `At most ${RESIDENCY_LIMITS.regions} regions`)
    .default([])
    .superRefine((list, ctx) => {
      const dup = firstDuplicate(list);
      if (dup) ctx.addIssue({ code: "custom", message: `The region ${dup} is listed twice` });
    })
    .meta({ description: "When non-empty, only these regions (ids) are allowed" }),
  allowExtraterritorial: z.boolean({ error: "Say whether operators exposed to extraterritorial law are allowed (true or false)" }),
});
export type ResidencyRuleInput = z.output<typeof residencyRuleInput>;

export const RESIDENCY_CLASS_LABELS = { PUBLIC: "Public", INTERNAL: "Internal", CONFIDENTIAL: "Confidential", RESTRICTED: "Restricted" } as const;
