/**
 * The words the console uses for guardrail rules, actions and personal-data types
 * (docs/guardrails.md). Which actions a rule allows comes from the server (the `catalogue` of
 * guardrails.get), not from here.
 */
import type { GuardrailAction, GuardrailRule, PiiType } from "@/server/guardrails/types";

export const RULE_LABELS: Record<GuardrailRule, { title: string; hint: string }> = {
  "schema.output": { title: "JSON schema · output", hint: "When a request asks for JSON (response_format), the answer is parsed and validated against its schema." },
  "pii.input": { title: "Personal data · input", hint: "Prompts are scanned for personal data before the model sees them." },
  "pii.output": { title: "Personal data · output", hint: "Answers are scanned for personal data before the caller gets them." },
  "grounded.output": { title: "Groundedness · output", hint: "Answers are checked against the grounding sources a request carries." },
};

export const ACTION_LABELS: Record<GuardrailAction, string> = { off: "Off", observe: "Observe", redact: "Redact", block: "Block" };

export const ACTION_HINTS: Record<GuardrailAction, string> = {
  off: "The check does not run.",
  observe: "The verdict is recorded in the trace; nothing changes.",
  redact: "What is found is replaced by a typed placeholder, e.g. [IBAN_1].",
  block: "The request or the answer is refused.",
};

export const ACTION_TONES: Record<GuardrailAction, "neutral" | "info" | "warn" | "bad"> = { off: "neutral", observe: "info", redact: "warn", block: "bad" };

export const PII_LABELS: Record<PiiType, string> = {
  EMAIL: "Email addresses",
  PHONE: "Phone numbers",
  IBAN: "IBANs",
  PAYMENT_CARD: "Payment card numbers",
  FR_NIR: "French NIR (social security)",
  FR_SIREN: "French SIREN",
  FR_SIRET: "French SIRET",
  EU_VAT: "EU VAT numbers",
  IP_ADDRESS: "IP addresses",
  DE_TAX_ID: "German tax ID",
  ES_DNI: "Spanish DNI/NIE",
  IT_FISCAL_CODE: "Italian fiscal code",
  NL_BSN: "Dutch BSN",
  BE_NATIONAL_NUMBER: "Belgian national number",
  PERSON: "Person names (named-entity sidecar)",
};

export const SOURCE_LABELS = { default: "built-in", organization: "organisation", deployment: "deployment", apiKey: "key" } as const;
