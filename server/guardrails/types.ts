/**
 * The guardrails' shared contracts (docs/guardrails.md): the checks, their stages and actions, the
 * effective policy the gateway applies to one request, the findings each check reports and the
 * compact outcome codes the usage records carry for the dashboards. Imports nothing.
 *
 * Nothing here, and nothing a check returns, may hold the personal data a check found: types,
 * counts, positions (UTF-16 offsets into the checked text) and scores only.
 */

export const GUARDRAIL_CHECKS = ["schema", "pii", "grounded"] as const;
export type GuardrailCheck = (typeof GUARDRAIL_CHECKS)[number];

export const GUARDRAIL_STAGES = ["input", "output"] as const;
export type GuardrailStage = (typeof GUARDRAIL_STAGES)[number];

/** "off": the check does not run. "observe": verdict recorded only. "redact": found data replaced by placeholders. "block": the request or answer is refused. */
export const GUARDRAIL_ACTIONS = ["off", "observe", "redact", "block"] as const;
export type GuardrailAction = (typeof GUARDRAIL_ACTIONS)[number];

/** The (check, stage) pairs that exist, and the actions each allows. */
export const GUARDRAIL_RULES = {
  "schema.output": ["off", "observe", "block"],
  "pii.input": ["off", "observe", "redact", "block"],
  "pii.output": ["off", "observe", "redact", "block"],
  "grounded.output": ["off", "observe", "block"],
} as const satisfies Record<string, readonly GuardrailAction[]>;
export type GuardrailRule = keyof typeof GUARDRAIL_RULES;
export const GUARDRAIL_RULE_NAMES = Object.keys(GUARDRAIL_RULES) as GuardrailRule[];

/** A new organisation's defaults (and any organisation's without a policy of its own). */
export const DEFAULT_GUARDRAIL_RULES: Record<GuardrailRule, GuardrailAction> = {
  "schema.output": "observe",
  "pii.input": "observe",
  "pii.output": "observe",
  "grounded.output": "off",
};

/** The personal-data types the built-in detector knows (server/guardrails/pii.ts), plus PERSON from a sidecar. */
export const PII_TYPES = [
  "EMAIL",
  "PHONE",
  "IBAN",
  "PAYMENT_CARD",
  "FR_NIR",
  "FR_SIREN",
  "FR_SIRET",
  "EU_VAT",
  "IP_ADDRESS",
  "DE_TAX_ID",
  "ES_DNI",
  "IT_FISCAL_CODE",
  "NL_BSN",
  "BE_NATIONAL_NUMBER",
  "PERSON",
] as const;
export type PiiType = (typeof PII_TYPES)[number];

/** One piece of personal data found: where, not what. */
export interface PiiFinding {
  type: PiiType;
  /** UTF-16 offsets into the checked text, end exclusive. */
  start: number;
  end: number;
  /** 1 for a checksum-validated match; a sidecar's own score otherwise. */
  score: number;
}

/** A groundedness judge an organisation configured: one of its own deployments, or an HTTP verifier. */
export type GroundednessJudge =
  | { kind: "deployment"; deploymentId: string }
  | { kind: "http"; url: string };

/** What the gateway applies to one request: organisation defaults, overridden by the deployment's, then by the key's. */
export interface EffectiveGuardrails {
  rules: Record<GuardrailRule, GuardrailAction>;
  /** The PII types checked; all of the built-in ones when absent. */
  piiTypes?: PiiType[];
  judge?: GroundednessJudge | null;
  /** A score under this fails the groundedness check (0..1). Default 0.7. */
  groundedThreshold?: number;
}

// ─── Outcomes, as the usage records and roll-ups count them ──────────────────

export const GUARDRAIL_OUTCOMES = ["pass", "flagged", "redacted", "blocked", "error"] as const;
export type GuardrailOutcome = (typeof GUARDRAIL_OUTCOMES)[number];

/**
 * One verdict as a small integer for the usage record's `guardrails smallint[]` column:
 * rule index × 8 + outcome index (rule order: GUARDRAIL_RULE_NAMES; outcome order: GUARDRAIL_OUTCOMES).
 */
export function outcomeCode(rule: GuardrailRule, outcome: GuardrailOutcome): number {
  return GUARDRAIL_RULE_NAMES.indexOf(rule) * 8 + GUARDRAIL_OUTCOMES.indexOf(outcome);
}

export function decodeOutcome(code: number): { rule: GuardrailRule; outcome: GuardrailOutcome } | null {
  const rule = GUARDRAIL_RULE_NAMES[Math.floor(code / 8)];
  const outcome = GUARDRAIL_OUTCOMES[code % 8];
  return rule && outcome ? { rule, outcome } : null;
}
