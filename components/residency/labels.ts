import { DATA_CLASSIFICATIONS, type DataClassification } from "@/lib/limits";

export { DATA_CLASSIFICATIONS };
export type { DataClassification };

export const CLASS_LABELS: Record<DataClassification, string> = { PUBLIC: "Public", INTERNAL: "Internal", CONFIDENTIAL: "Confidential", RESTRICTED: "Restricted" };

export const CLASS_HINTS: Record<DataClassification, string> = {
  PUBLIC: "Data anyone may see.",
  INTERNAL: "Data for the organisation's own people.",
  CONFIDENTIAL: "Data whose disclosure would harm the organisation or the people in it.",
  RESTRICTED: "The most sensitive data (health, secrets): refused everywhere until you set a policy.",
};

/** Without a policy: what the class gets. */
export const NO_POLICY_TEXT: Record<DataClassification, string> = {
  PUBLIC: "No policy: every region is allowed.",
  INTERNAL: "No policy: every region is allowed.",
  CONFIDENTIAL: "No policy: every region is allowed.",
  RESTRICTED: "No policy: restricted data is refused everywhere until you set a policy.",
};
