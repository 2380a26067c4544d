/** Output schemas of the guardrail policy procedures (routers/guardrails.ts; docs/guardrails.md, "Policies"). */
import { z } from "zod";
import { GUARDRAIL_ACTIONS, GUARDRAIL_CHECKS, GUARDRAIL_RULE_NAMES, GUARDRAIL_RULES, GUARDRAIL_STAGES, PII_TYPES, type GuardrailRule } from "../../guardrails/types";
import { dateTime } from "./common";

// Typed as any action (EffectiveGuardrails' contract); the description names the ones the rule allows.
const actionOf = (rule: GuardrailRule) => z.enum(GUARDRAIL_ACTIONS).meta({ description: `One of ${GUARDRAIL_RULES[rule].join(", ")}` });

/** Every rule with its action. */
export const guardrailRules = z
  .object(Object.fromEntries(GUARDRAIL_RULE_NAMES.map((rule) => [rule, actionOf(rule)])) as { [R in GuardrailRule]: ReturnType<typeof actionOf> })
  .meta({ description: "Rule (check.stage) → action" });

/** The rules an override sets; the others inherit. */
export const guardrailRuleOverrides = z
  .object(Object.fromEntries(GUARDRAIL_RULE_NAMES.map((rule) => [rule, actionOf(rule).optional()])) as { [R in GuardrailRule]: z.ZodOptional<ReturnType<typeof actionOf>> })
  .meta({ description: "The rules this override sets; a rule absent here inherits" });

export const guardrailJudge = z
  .object({
    kind: z.enum(["deployment", "http"]).meta({ description: "deployment: one of the organisation's deployments, called through the platform; http: a verifier service (docs/guardrails.md)" }),
    deploymentId: z.string().nullable(),
    deploymentName: z.string().nullable().meta({ description: "The judge deployment's name; null when it was deleted since (the built-in check still runs)" }),
    url: z.string().nullable(),
  })
  .nullable()
  .meta({ description: "The groundedness judge besides the built-in check; null: the built-in check only" });

const piiTypes = z.array(z.enum(PII_TYPES)).nullable().meta({ description: "The personal-data types checked; null: every built-in type" });
const groundedThreshold = z.number().meta({ description: "A groundedness score under this fails the check (0..1)" });

export const guardrailRuleInfo = z.object({
  rule: z.enum(GUARDRAIL_RULE_NAMES as [GuardrailRule, ...GuardrailRule[]]),
  check: z.enum(GUARDRAIL_CHECKS),
  stage: z.enum(GUARDRAIL_STAGES),
  actions: z.array(z.enum(GUARDRAIL_ACTIONS)).meta({ description: "The actions this rule allows" }),
  defaultAction: z.enum(GUARDRAIL_ACTIONS).meta({ description: "Its action for an organisation that set none (DEFAULT_GUARDRAIL_RULES)" }),
});

export const guardrailDefaults = z.object({
  configured: z.boolean().meta({ description: "False: the organisation uses the built-in defaults (schema and personal data on input and output, observed)" }),
  rules: guardrailRules,
  piiTypes,
  judge: guardrailJudge,
  groundedThreshold,
  updatedAt: dateTime.nullable(),
  catalogue: z.array(guardrailRuleInfo).meta({ description: "Every rule, its allowed actions and built-in default" }),
  availablePiiTypes: z.array(z.enum(PII_TYPES)),
});

export const guardrailOverridesOutput = z.object({
  deployments: z.array(
    z.object({
      deploymentId: z.string(),
      deploymentName: z.string(),
      rules: guardrailRuleOverrides,
      effective: guardrailRules.meta({ description: "The organisation's defaults with this override applied (a key's override still wins over it)" }),
      updatedAt: dateTime,
    }),
  ),
  apiKeys: z.array(
    z.object({
      apiKeyId: z.string(),
      apiKeyName: z.string(),
      prefix: z.string(),
      rules: guardrailRuleOverrides,
      effective: guardrailRules.meta({ description: "The organisation's defaults with this override applied, on a deployment without one of its own" }),
      updatedAt: dateTime,
    }),
  ),
});

const source = z.enum(["default", "organization", "deployment", "apiKey"]);

export const guardrailsEffective = z.object({
  rules: guardrailRules,
  sources: z
    .object(Object.fromEntries(GUARDRAIL_RULE_NAMES.map((rule) => [rule, source])) as Record<GuardrailRule, typeof source>)
    .meta({ description: "Which level decided each rule: default (built-in), organization, deployment or apiKey" }),
  piiTypes,
  judge: guardrailJudge,
  groundedThreshold,
});

export const guardrailOverride = z.object({
  kind: z.enum(["deployment", "apiKey"]),
  id: z.string(),
  name: z.string(),
  prefix: z.string().nullable().meta({ description: "The key's prefix; null for a deployment" }),
  rules: guardrailRuleOverrides,
  effective: guardrailRules.meta({ description: "The organisation's defaults with this override applied" }),
  updatedAt: dateTime,
});

export const guardrailOverrideRemoved = z.object({ kind: z.enum(["deployment", "apiKey"]), id: z.string(), removed: z.literal(true) });
