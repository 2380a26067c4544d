/**
 * Guardrail policies, resolved (docs/guardrails.md, "Policies"): an organisation's defaults, then the
 * deployment's override, then the key's — each override names only the rules it changes, the others
 * inherit. Pure functions on stored rows, shared by the service (what the console shows as the
 * effective result) and the gateway (server/gateway/state.ts `guardrailsFor`). Imports only the
 * shared contracts.
 */
import {
  DEFAULT_GUARDRAIL_RULES,
  GUARDRAIL_RULE_NAMES,
  GUARDRAIL_RULES,
  PII_TYPES,
  type EffectiveGuardrails,
  type GroundednessJudge,
  type GuardrailAction,
  type GuardrailRule,
  type PiiType,
} from "./types";

export type GuardrailRules = Record<GuardrailRule, GuardrailAction>;
/** An override: the rules it sets; absent rules inherit. */
export type GuardrailRuleOverrides = Partial<GuardrailRules>;

/** A groundedness score under this fails the check when the organisation set no threshold. */
export const DEFAULT_GROUNDED_THRESHOLD = 0.7;

export const isGuardrailRule = (rule: string): rule is GuardrailRule => Object.hasOwn(GUARDRAIL_RULES, rule);

export const actionAllowed = (rule: GuardrailRule, action: string): action is GuardrailAction =>
  (GUARDRAIL_RULES[rule] as readonly string[]).includes(action);

/**
 * Rules as stored (jsonb), keeping only known rules with an action they allow. The service refuses
 * anything else before writing; this guards the gateway against a row written by hand.
 */
export function storedRules(json: unknown): GuardrailRuleOverrides {
  const out: GuardrailRuleOverrides = {};
  if (!json || typeof json !== "object" || Array.isArray(json)) return out;
  for (const [rule, action] of Object.entries(json as Record<string, unknown>)) {
    if (isGuardrailRule(rule) && typeof action === "string" && actionAllowed(rule, action)) out[rule] = action;
  }
  return out;
}

/** A judge as stored (jsonb), or null when there is none or it is malformed. */
export function storedJudge(json: unknown): GroundednessJudge | null {
  if (!json || typeof json !== "object") return null;
  const j = json as Record<string, unknown>;
  if (j.kind === "deployment" && typeof j.deploymentId === "string" && j.deploymentId) return { kind: "deployment", deploymentId: j.deploymentId };
  if (j.kind === "http" && typeof j.url === "string" && /^https?:\/\//i.test(j.url)) return { kind: "http", url: j.url };
  return null;
}

export function storedPiiTypes(list: readonly string[] | null | undefined): PiiType[] | null {
  const known = (list ?? []).filter((t): t is PiiType => (PII_TYPES as readonly string[]).includes(t));
  return known.length > 0 ? known : null;
}

/** The stored defaults row of an organisation, as the service and the gateway read it. */
export interface GuardrailDefaultsRow {
  rules: unknown;
  piiTypes: readonly string[] | null;
  judge: unknown;
  groundedThreshold: number | null;
}

const freezeEffective = (e: EffectiveGuardrails): EffectiveGuardrails => {
  Object.freeze(e.rules);
  if (e.piiTypes) Object.freeze(e.piiTypes);
  if (e.judge) Object.freeze(e.judge);
  return Object.freeze(e);
};

/** What an organisation without a policy of its own gets: DEFAULT_GUARDRAIL_RULES, every built-in PII type, no judge. */
export const DEFAULT_EFFECTIVE_GUARDRAILS: EffectiveGuardrails = freezeEffective({
  rules: { ...DEFAULT_GUARDRAIL_RULES },
  judge: null,
  groundedThreshold: DEFAULT_GROUNDED_THRESHOLD,
});

/** An organisation's defaults: its row over DEFAULT_GUARDRAIL_RULES (a rule missing from the row keeps the default). Frozen. */
export function organizationGuardrails(row: GuardrailDefaultsRow | null | undefined): EffectiveGuardrails {
  if (!row) return DEFAULT_EFFECTIVE_GUARDRAILS;
  const piiTypes = storedPiiTypes(row.piiTypes);
  const effective: EffectiveGuardrails = {
    rules: { ...DEFAULT_GUARDRAIL_RULES, ...storedRules(row.rules) },
    judge: storedJudge(row.judge),
    groundedThreshold: row.groundedThreshold ?? DEFAULT_GROUNDED_THRESHOLD,
  };
  if (piiTypes) effective.piiTypes = piiTypes;
  return freezeEffective(effective);
}

/** `base` with the overrides applied in order (deployment, then key: the last one wins). Frozen; `base` itself when nothing changes. */
export function withOverrides(base: EffectiveGuardrails, ...overrides: (GuardrailRuleOverrides | null | undefined)[]): EffectiveGuardrails {
  let rules: GuardrailRules | null = null;
  for (const o of overrides) {
    if (!o) continue;
    for (const rule of GUARDRAIL_RULE_NAMES) {
      const action = o[rule];
      if (action !== undefined && action !== (rules ?? base.rules)[rule]) (rules ??= { ...base.rules })[rule] = action;
    }
  }
  if (!rules) return base;
  return freezeEffective({ ...base, rules });
}

/** Which level decided each rule: "default" (DEFAULT_GUARDRAIL_RULES), "organization", "deployment" or "apiKey". */
export type GuardrailRuleSource = "default" | "organization" | "deployment" | "apiKey";

export function ruleSources(
  orgRules: GuardrailRuleOverrides | null,
  deployment: GuardrailRuleOverrides | null,
  apiKey: GuardrailRuleOverrides | null,
): Record<GuardrailRule, GuardrailRuleSource> {
  const out = {} as Record<GuardrailRule, GuardrailRuleSource>;
  for (const rule of GUARDRAIL_RULE_NAMES) {
    out[rule] = apiKey?.[rule] !== undefined ? "apiKey" : deployment?.[rule] !== undefined ? "deployment" : orgRules?.[rule] !== undefined ? "organization" : "default";
  }
  return out;
}
