/**
 * Guardrail policies, the management side (docs/guardrails.md, "Policies"): an organisation's
 * defaults — the action of each rule (check × stage), the personal-data types checked, the
 * groundedness judge and threshold — and the overrides of its deployments and API keys, which name
 * only the rules they change (precedence: organisation < deployment < key).
 *
 * An organisation with no row gets DEFAULT_GUARDRAIL_RULES (schema and personal data on input and
 * output, observed), so verdicts reach its traces before anyone configures anything. Every change
 * is one transaction that writes an audit event (rules, types, judge; never a secret: a judge URL
 * carrying credentials or a query string is refused) and notifies the gateways on commit
 * (`enclave_guardrails`, payload: the organisation's id; server/gateway/state.ts reloads it).
 */
import { z } from "zod";
import { db, type Tx } from "../db";
import { Prisma } from "../generated/prisma/client";
import { badRequest, conflict, notFound } from "../errors";
import {
  DEFAULT_GROUNDED_THRESHOLD,
  organizationGuardrails,
  ruleSources,
  storedJudge,
  storedPiiTypes,
  storedRules,
  withOverrides,
  type GuardrailRuleOverrides,
  type GuardrailRules,
  type GuardrailRuleSource,
} from "../guardrails/policy";
import {
  DEFAULT_GUARDRAIL_RULES,
  GUARDRAIL_RULE_NAMES,
  GUARDRAIL_RULES,
  PII_TYPES,
  type EffectiveGuardrails,
  type GroundednessJudge,
  type GuardrailCheck,
  type GuardrailRule,
  type GuardrailStage,
  type PiiType,
} from "../guardrails/types";
import { recordAudit, type Actor } from "./audit";
import { GATEWAY_CHANNELS } from "./channels";

// ─── Inputs (shared by tRPC and REST through the router) ─────────────────────

const RULE_LIST = GUARDRAIL_RULE_NAMES.join(", ");
const orList = (items: readonly string[]) => (items.length < 2 ? items.join("") : `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`);

const ruleAction = (rule: GuardrailRule) =>
  z
    .enum(GUARDRAIL_RULES[rule], {
      error: (issue) =>
        `${typeof issue.input === "string" ? `"${issue.input.slice(0, 40)}"` : "That"} is not an action of ${rule}: use ${orList(GUARDRAIL_RULES[rule])}`,
    })
    .meta({ description: `The action of ${rule}: ${orList(GUARDRAIL_RULES[rule])}` });

const ruleShape = Object.fromEntries(GUARDRAIL_RULE_NAMES.map((rule) => [rule, ruleAction(rule).optional()])) as {
  [R in GuardrailRule]: z.ZodOptional<ReturnType<typeof ruleAction>>;
};

/** Some rules and their actions; an unknown rule is refused with the list of the known ones. */
export const guardrailRulesInput = z
  .strictObject(ruleShape, {
    error: (issue) => {
      if (issue.code === "unrecognized_keys") {
        const keys = issue.keys.map((k) => `"${k.slice(0, 40)}"`).join(", ");
        return `Unknown rule${issue.keys.length > 1 ? "s" : ""} ${keys}: the rules are ${RULE_LIST}`;
      }
      return `Give the rules as an object of rule → action, e.g. {"pii.input": "redact"}; the rules are ${RULE_LIST}`;
    },
  })
  .meta({ description: `Rule (check.stage) → action. Rules: ${RULE_LIST}` });

const piiTypesInput = z
  .array(z.enum(PII_TYPES, { error: () => `A personal-data type is one of ${PII_TYPES.join(", ")}` }), {
    error: "Give the personal-data types as a list, e.g. [\"EMAIL\", \"IBAN\"], or null for all of them",
  })
  .min(1, "Give at least one personal-data type, or null to check all of them")
  .refine((list) => new Set(list).size === list.length, "Name each personal-data type once")
  .meta({ description: "The personal-data types the pii rules check; null: every built-in type (PERSON needs a named-entity sidecar)" });

export const JUDGE_URL_MAX = 2000;

const judgeUrl = z
  .string({ error: "Give the verifier's URL, e.g. https://verifier.internal/v1/groundedness" })
  .trim()
  .min(1, "Give the verifier's URL, e.g. https://verifier.internal/v1/groundedness")
  .max(JUDGE_URL_MAX, "Use at most 2,000 characters")
  .regex(/^[\x21-\x7e]+$/, "Write the URL in plain ASCII, without spaces (punycode for an international domain name, %-escapes in the path)")
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: "custom", message: "Enter a full URL, e.g. https://verifier.internal/v1/groundedness" });
      return;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") ctx.addIssue({ code: "custom", message: `The verifier's URL must be http:// or https://, not ${url.protocol}//` });
    else if (!url.hostname) ctx.addIssue({ code: "custom", message: "The verifier's URL names no host" });
    else if (url.username || url.password) ctx.addIssue({ code: "custom", message: "Put no user name or password in the verifier's URL: it is stored and audited as is" });
    else if (url.search || url.hash) ctx.addIssue({ code: "custom", message: "Put no query string or fragment in the verifier's URL: it is stored and audited as is, and may not carry a credential" });
  })
  .meta({ description: "The HTTP verifier's endpoint (http:// or https://; no credentials, query string or fragment). Its contract: docs/guardrails.md" });

const judgeInput = z
  .discriminatedUnion(
    "kind",
    [
      z.object({
        kind: z.literal("deployment"),
        deploymentId: z
          .string({ error: "Give the id of the deployment that judges groundedness" })
          .min(1, "Give the id of the deployment that judges groundedness")
          .max(64, "The deployment id is too long")
          .meta({ description: "One of the organisation's own deployments, called through the platform (the data stays in its region)" }),
      }),
      z.object({ kind: z.literal("http"), url: judgeUrl }),
    ],
    { error: () => 'A judge is {"kind": "deployment", "deploymentId": …} or {"kind": "http", "url": …}, or null for the built-in check only' },
  )
  .meta({ description: "The groundedness judge besides the built-in check: one of the organisation's deployments, or an HTTP verifier; null: the built-in check only" });

const thresholdInput = z
  .number({ error: "The groundedness threshold is a number from 0 to 1, e.g. 0.7" })
  .min(0, "The groundedness threshold is at least 0")
  .max(1, "The groundedness threshold is at most 1")
  .meta({ description: `A groundedness score under this fails the check (0..1); null: ${DEFAULT_GROUNDED_THRESHOLD}` });

export const guardrailDefaultsInput = z.object({
  rules: guardrailRulesInput.meta({ description: `Rule → action; a rule left out gets its built-in default (${GUARDRAIL_RULE_NAMES.map((r) => `${r}: ${DEFAULT_GUARDRAIL_RULES[r]}`).join(", ")})` }),
  piiTypes: piiTypesInput.nullable().default(null),
  judge: judgeInput.nullable().default(null),
  groundedThreshold: thresholdInput.nullable().default(null),
});
export type GuardrailDefaultsInput = z.infer<typeof guardrailDefaultsInput>;

export const guardrailOverrideInput = z.object({
  rules: guardrailRulesInput
    .refine((rules) => Object.keys(rules).length > 0, `Override at least one rule (${RULE_LIST}); to inherit every rule, remove the override`)
    .meta({ description: "The rules this override sets; the others inherit (organisation < deployment < key)" }),
});
export type GuardrailOverrideInput = z.infer<typeof guardrailOverrideInput>;

// ─── Views ───────────────────────────────────────────────────────────────────

/** The rules, each with its check, stage, allowed actions and built-in default: what the console draws its table from. */
export const GUARDRAIL_RULE_CATALOGUE = GUARDRAIL_RULE_NAMES.map((rule) => {
  const [check, stage] = rule.split(".") as [GuardrailCheck, GuardrailStage];
  return { rule, check, stage, actions: [...GUARDRAIL_RULES[rule]], defaultAction: DEFAULT_GUARDRAIL_RULES[rule] };
});

type DefaultsRow = { rules: unknown; piiTypes: string[]; judge: unknown; groundedThreshold: number | null; updatedAt: Date };

/** Complete rules, in the catalogue's order. */
const orderedRules = (rules: GuardrailRules): GuardrailRules => Object.fromEntries(GUARDRAIL_RULE_NAMES.map((r) => [r, rules[r]])) as GuardrailRules;
const orderedOverrides = (rules: GuardrailRuleOverrides): GuardrailRuleOverrides =>
  Object.fromEntries(GUARDRAIL_RULE_NAMES.filter((r) => rules[r] !== undefined).map((r) => [r, rules[r]])) as GuardrailRuleOverrides;

/** What the audit trail records of the defaults: rules, types, judge (a deployment id or a credential-free URL), threshold. */
function defaultsAuditView(row: DefaultsRow | null) {
  if (!row) return null;
  const e = organizationGuardrails(row);
  return { rules: orderedRules(e.rules), piiTypes: e.piiTypes ?? null, judge: e.judge ?? null, groundedThreshold: row.groundedThreshold };
}

async function judgeView(orgId: string, judge: GroundednessJudge | null | undefined) {
  if (!judge) return null;
  if (judge.kind === "http") return { kind: "http" as const, url: judge.url, deploymentId: null, deploymentName: null };
  const d = await db.deployment.findFirst({ where: { id: judge.deploymentId, orgId }, select: { name: true, deletedAt: true } });
  return { kind: "deployment" as const, url: null, deploymentId: judge.deploymentId, deploymentName: d && !d.deletedAt ? d.name : null };
}

async function defaultsRow(orgId: string, tx: Tx | typeof db = db): Promise<DefaultsRow | null> {
  return tx.guardrailPolicy.findFirst({
    where: { orgId, deploymentId: null, apiKeyId: null },
    select: { rules: true, piiTypes: true, judge: true, groundedThreshold: true, updatedAt: true },
  });
}

/** An organisation's defaults as the console and REST show them (any member may read them). */
export async function getGuardrailDefaults(orgId: string) {
  const row = await defaultsRow(orgId);
  const e = organizationGuardrails(row);
  return {
    configured: row !== null,
    rules: orderedRules(e.rules),
    piiTypes: e.piiTypes ?? null,
    judge: await judgeView(orgId, e.judge),
    groundedThreshold: e.groundedThreshold ?? DEFAULT_GROUNDED_THRESHOLD,
    updatedAt: row?.updatedAt ?? null,
    catalogue: GUARDRAIL_RULE_CATALOGUE,
    availablePiiTypes: [...PII_TYPES],
  };
}

/** Every override of the organisation's live deployments and unrevoked keys, with the effective result of each. */
export async function listGuardrailOverrides(orgId: string) {
  const [defaults, rows] = await Promise.all([
    defaultsRow(orgId),
    db.guardrailPolicy.findMany({
      where: { orgId, OR: [{ deployment: { deletedAt: null } }, { apiKey: { revokedAt: null } }] },
      select: {
        deploymentId: true,
        apiKeyId: true,
        rules: true,
        updatedAt: true,
        deployment: { select: { name: true } },
        apiKey: { select: { name: true, prefix: true } },
      },
    }),
  ]);
  const base = organizationGuardrails(defaults);
  const deployments = rows
    .filter((r) => r.deploymentId && r.deployment)
    .map((r) => {
      const rules = storedRules(r.rules);
      return {
        deploymentId: r.deploymentId!,
        deploymentName: r.deployment!.name,
        rules: orderedOverrides(rules),
        effective: orderedRules(withOverrides(base, rules).rules),
        updatedAt: r.updatedAt,
      };
    })
    .sort((a, b) => a.deploymentName.localeCompare(b.deploymentName));
  const apiKeys = rows
    .filter((r) => r.apiKeyId && r.apiKey)
    .map((r) => {
      const rules = storedRules(r.rules);
      return {
        apiKeyId: r.apiKeyId!,
        apiKeyName: r.apiKey!.name,
        prefix: r.apiKey!.prefix,
        rules: orderedOverrides(rules),
        effective: orderedRules(withOverrides(base, rules).rules),
        updatedAt: r.updatedAt,
      };
    })
    .sort((a, b) => a.apiKeyName.localeCompare(b.apiKeyName) || a.prefix.localeCompare(b.prefix));
  return { deployments, apiKeys };
}

/**
 * What a request through `deploymentId` with `apiKeyId` gets, and which level decided each rule —
 * the gateway's `guardrailsFor` from the same rows (tests compare the two).
 */
export async function effectiveGuardrails(orgId: string, input: { deploymentId?: string | null; apiKeyId?: string | null }) {
  const [defaults, deployment, apiKey] = await Promise.all([
    defaultsRow(orgId),
    input.deploymentId ? db.deployment.findFirst({ where: { id: input.deploymentId, orgId, deletedAt: null }, select: { id: true, guardrails: { select: { rules: true } } } }) : null,
    input.apiKeyId ? db.apiKey.findFirst({ where: { id: input.apiKeyId, orgId }, select: { id: true, guardrails: { select: { rules: true } } } }) : null,
  ]);
  if (input.deploymentId && !deployment) throw notFound("Deployment");
  if (input.apiKeyId && !apiKey) throw notFound("API key");
  const orgRules = defaults ? storedRules(defaults.rules) : null;
  const d = deployment?.guardrails ? storedRules(deployment.guardrails.rules) : null;
  const k = apiKey?.guardrails ? storedRules(apiKey.guardrails.rules) : null;
  const e: EffectiveGuardrails = withOverrides(organizationGuardrails(defaults), d, k);
  return {
    rules: orderedRules(e.rules),
    sources: ruleSources(orgRules, d, k) as Record<GuardrailRule, GuardrailRuleSource>,
    piiTypes: e.piiTypes ?? null,
    judge: await judgeView(orgId, e.judge),
    groundedThreshold: e.groundedThreshold ?? DEFAULT_GROUNDED_THRESHOLD,
  };
}

// ─── Changes ─────────────────────────────────────────────────────────────────

/** Reloaded by every gateway once the transaction commits (PostgreSQL delivers NOTIFY on commit only). */
async function notifyGateways(tx: Tx, orgId: string) {
  await tx.$executeRaw`SELECT pg_notify(${GATEWAY_CHANNELS.guardrails}, ${orgId})`;
}

/** Serialises the changes of one organisation's policies (the defaults row may not exist yet to lock). */
async function lockOrganization(tx: Tx, orgId: string) {
  await tx.$queryRaw`SELECT id FROM "Organization" WHERE id = ${orgId} FOR UPDATE`;
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Sets the organisation's defaults (owners and admins, `manage` keys). Rules left out get their built-in default. Saving them unchanged writes nothing. */
export async function setGuardrailDefaults(orgId: string, actor: Actor, input: GuardrailDefaultsInput) {
  const rules = orderedRules({ ...DEFAULT_GUARDRAIL_RULES, ...input.rules });
  const judge: GroundednessJudge | null = input.judge;
  const piiTypes: PiiType[] = input.piiTypes ?? [];
  await db.$transaction(async (tx) => {
    await lockOrganization(tx, orgId);
    if (judge?.kind === "deployment") {
      const d = await tx.deployment.findFirst({ where: { id: judge.deploymentId, orgId, deletedAt: null }, select: { id: true } });
      if (!d) throw badRequest("The judge deployment is not one of this organisation's deployments: choose one of its own (the data must stay in its regions)", "judge.deploymentId");
    }
    const before = await defaultsRow(orgId, tx);
    const data = { rules, piiTypes, judge: judge ?? Prisma.DbNull, groundedThreshold: input.groundedThreshold };
    const after: DefaultsRow = { rules, piiTypes, judge, groundedThreshold: input.groundedThreshold, updatedAt: new Date() };
    const beforeView = defaultsAuditView(before);
    const afterView = defaultsAuditView(after);
    if (before && sameJson(beforeView, afterView)) return;
    if (before) {
      await tx.guardrailPolicy.updateMany({ where: { orgId, deploymentId: null, apiKeyId: null }, data });
    } else {
      await tx.guardrailPolicy.create({ data: { orgId, ...data } });
    }
    await recordAudit(tx, actor, { orgId, action: "guardrails.set", targetType: "Organization", targetId: orgId, before: beforeView, after: afterView });
    await notifyGateways(tx, orgId);
  });
  return getGuardrailDefaults(orgId);
}

/** Back to the built-in defaults (DEFAULT_GUARDRAIL_RULES, every PII type, no judge). Overrides stay. */
export async function resetGuardrailDefaults(orgId: string, actor: Actor) {
  await db.$transaction(async (tx) => {
    await lockOrganization(tx, orgId);
    const before = await defaultsRow(orgId, tx);
    if (!before) throw notFound("This organisation's own guardrail defaults (it uses the built-in ones)");
    await tx.guardrailPolicy.deleteMany({ where: { orgId, deploymentId: null, apiKeyId: null } });
    await recordAudit(tx, actor, { orgId, action: "guardrails.reset", targetType: "Organization", targetId: orgId, before: defaultsAuditView(before) });
    await notifyGateways(tx, orgId);
  });
  return getGuardrailDefaults(orgId);
}

type Target = { kind: "deployment"; id: string } | { kind: "apiKey"; id: string };

async function targetOf(tx: Tx, orgId: string, target: Target) {
  if (target.kind === "deployment") {
    const d = await tx.deployment.findFirst({ where: { id: target.id, orgId, deletedAt: null }, select: { id: true, name: true } });
    if (!d) throw notFound("Deployment");
    return { where: { deploymentId: d.id }, targetType: "Deployment", name: d.name };
  }
  const k = await tx.apiKey.findFirst({ where: { id: target.id, orgId }, select: { id: true, name: true, prefix: true, revokedAt: true } });
  if (!k) throw notFound("API key");
  if (k.revokedAt) throw conflict("This API key is revoked: it makes no more calls to apply guardrails to", "apiKeyId");
  return { where: { apiKeyId: k.id }, targetType: "ApiKey", name: k.name, prefix: k.prefix };
}

function overrideView(base: EffectiveGuardrails, target: Target, name: string, prefix: string | undefined, rules: GuardrailRuleOverrides, updatedAt: Date) {
  return {
    kind: target.kind,
    id: target.id,
    name,
    prefix: prefix ?? null,
    rules: orderedOverrides(rules),
    effective: orderedRules(withOverrides(base, rules).rules),
    updatedAt,
  };
}

/** Sets a deployment's or a key's override (the rules it names; the others inherit). Unchanged: nothing written. */
export async function setGuardrailOverride(orgId: string, actor: Actor, target: Target, input: GuardrailOverrideInput) {
  const rules = orderedOverrides(input.rules as GuardrailRuleOverrides);
  return db.$transaction(async (tx) => {
    await lockOrganization(tx, orgId);
    const t = await targetOf(tx, orgId, target);
    const existing = await tx.guardrailPolicy.findFirst({ where: { orgId, ...t.where }, select: { id: true, rules: true, updatedAt: true } });
    const defaults = await defaultsRow(orgId, tx);
    const base = organizationGuardrails(defaults);
    const before = existing ? orderedOverrides(storedRules(existing.rules)) : null;
    if (before && sameJson(before, rules)) return overrideView(base, target, t.name, t.prefix, rules, existing!.updatedAt);
    const saved = existing
      ? await tx.guardrailPolicy.update({ where: { id: existing.id }, data: { rules }, select: { updatedAt: true } })
      : await tx.guardrailPolicy.create({ data: { orgId, ...t.where, rules }, select: { updatedAt: true } });
    await recordAudit(tx, actor, {
      orgId,
      action: "guardrails.override_set",
      targetType: t.targetType,
      targetId: target.id,
      before: before && { rules: before },
      after: { rules, effective: orderedRules(withOverrides(base, rules).rules) },
    });
    await notifyGateways(tx, orgId);
    return overrideView(base, target, t.name, t.prefix, rules, saved.updatedAt);
  });
}

/** Removes a deployment's or a key's override: it inherits every rule again. */
export async function removeGuardrailOverride(orgId: string, actor: Actor, target: Target) {
  return db.$transaction(async (tx) => {
    await lockOrganization(tx, orgId);
    const t = await targetOf(tx, orgId, target);
    const existing = await tx.guardrailPolicy.findFirst({ where: { orgId, ...t.where }, select: { id: true, rules: true } });
    if (!existing) throw notFound(target.kind === "deployment" ? "This deployment's guardrail override" : "This API key's guardrail override");
    await tx.guardrailPolicy.delete({ where: { id: existing.id } });
    await recordAudit(tx, actor, { orgId, action: "guardrails.override_removed", targetType: t.targetType, targetId: target.id, before: { rules: orderedOverrides(storedRules(existing.rules)) } });
    await notifyGateways(tx, orgId);
    return { kind: target.kind, id: target.id, removed: true as const };
  });
}

// Re-exported for the readers that format stored rows (the router's outputs).
export { storedJudge, storedPiiTypes };
