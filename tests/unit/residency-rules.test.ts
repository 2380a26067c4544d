import { describe, expect, it } from "vitest";
import { residencyRuleInput } from "@/lib/residency";
import { evaluateResidency, RESTRICTED_WITHOUT_POLICY } from "@/server/services/policy";

const region = { id: "r1", code: "onprem-demo", jurisdiction: "FR", certifications: [], extraterritorialExposure: false };
const messages = (input: unknown) => residencyRuleInput.safeParse(input).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ?? [];

describe("residency rules", () => {
  it("RESTRICTED without a policy is refused in every region, the other classes are not", () => {
    for (const r of [region, { ...region, jurisdiction: "US", extraterritorialExposure: true }]) {
      expect(evaluateResidency("RESTRICTED", null, r)).toEqual({ allowed: false, reasons: [RESTRICTED_WITHOUT_POLICY] });
      for (const dc of ["PUBLIC", "INTERNAL", "CONFIDENTIAL"] as const) expect(evaluateResidency(dc, null, r)).toEqual({ allowed: true, reasons: [] });
    }
    // A policy for another class never judges this one.
    expect(() => evaluateResidency("RESTRICTED", { dataClassification: "PUBLIC", allowedJurisdictions: [], requiredCertifications: [], allowedRegionIds: [], allowExtraterritorial: true }, region)).toThrow();
  });

  it("accepts ISO 3166-1 alpha-2 codes and EU (upper-cased), refuses anything else naming the code", () => {
    expect(residencyRuleInput.parse({ allowedJurisdictions: [" fr", "EU", "de"], allowExtraterritorial: false })).toEqual({ allowedJurisdictions: ["FR", "EU", "DE"], requiredCertifications: [], allowedRegionIds: [], allowExtraterritorial: false });
    expect(messages({ allowedJurisdictions: ["UK"], allowExtraterritorial: false })).toEqual(['allowedJurisdictions.0: "UK" is not an ISO 3166-1 alpha-2 country code nor EU: use e.g. FR, DE or EU']);
    expect(messages({ allowedJurisdictions: ["FRA"], allowExtraterritorial: false })[0]).toContain('"FRA" is not an ISO 3166-1 alpha-2');
  });

  it("refuses duplicates, empty or long certification names, and a missing exposure choice", () => {
    expect(messages({ allowedJurisdictions: ["FR", "fr"], allowExtraterritorial: true })).toEqual(["allowedJurisdictions: The jurisdiction FR is listed twice"]);
    expect(messages({ requiredCertifications: ["ISO 27001", "ISO_27001"], allowExtraterritorial: true })).toEqual(["requiredCertifications: The certification ISO_27001 is listed twice"]);
    expect(messages({ requiredCertifications: [""], allowExtraterritorial: true })).toEqual(["requiredCertifications.0: A certification name cannot be empty"]);
    expect(messages({ requiredCertifications: ["C".repeat(41)], allowExtraterritorial: true })).toEqual(["requiredCertifications.0: Use at most 40 characters for a certification name"]);
    expect(messages({ allowedRegionIds: ["a", "a"], allowExtraterritorial: true })).toEqual(["allowedRegionIds: The region a is listed twice"]);
    expect(messages({})).toEqual(["allowExtraterritorial: Say whether operators exposed to extraterritorial law are allowed (true or false)"]);
  });
});
