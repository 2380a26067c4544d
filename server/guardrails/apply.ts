/**
 * The guardrails of one request through the gateway (docs/guardrails.md, "In the gateway"): built
 * from the effective policy (state.guardrailsFor), it checks the request's texts before the model
 * sees them (personal data: observe, redact with typed placeholders, or block), holds the
 * request's Redactor (so the answer's placeholders continue the prompt's numbering), checks the
 * answer (JSON schema, personal data, groundedness with the built-in check then the judge), and
 * produces one GuardrailVerdict per check — with its `apply_guardrail <check>` span in the trace
 * (OpenTelemetry GenAI guardrail conventions), its usage outcome code, the compact
 * `x-enclave-guardrails` summary and, for streams, the final verdict chunk.
 *
 * Nothing this file writes (verdicts, spans, errors, header) holds the data a check found or the
 * text it read: types, counts, positions and scores only. When no rule applies to a request,
 * `prepareGuardrails` returns null before allocating anything: the gateway's path is unchanged.
 */
import { gatewayError, type GatewayErrorBody } from "../gateway/errors";
import type { Attributes, GroundedVerdictFindings, GuardrailVerdict, PiiVerdictFindings, SchemaVerdictFindings, SpanEvent } from "../gateway/trace";
import { GUARDRAIL_MAX_POSITIONS } from "../gateway/trace";
import type { RequestTrace } from "../gateway/tracing";
import { checkGroundedness, parseGrounding } from "./grounded";
import { judgeMessages, parseJudgeReply, verifyOverHttp } from "./judge";
import { detectPersons } from "./ner-sidecar";
import { detectPii, Redactor, StreamRedactor } from "./pii";
import { compileResponseFormat, type CompiledFormat } from "./schema";
import {
  outcomeCode,
  type EffectiveGuardrails,
  type GroundednessJudge,
  type GuardrailAction,
  type GuardrailCheck,
  type GuardrailOutcome,
  type GuardrailRule,
  type GuardrailStage,
  type PiiFinding,
  type PiiType,
} from "./types";

type Active = Exclude<GuardrailAction, "off">;
type Source = { id: string; text: string; title?: string };
type JudgeResult = { score: number; unsupported?: { start: number; end: number }[] };

/** The default threshold when the policy sets none (policy.ts DEFAULT_GROUNDED_THRESHOLD). */
const DEFAULT_THRESHOLD = 0.7;
/** Text accumulated from a stream for the end-of-stream checks, at most (characters). */
const STREAM_TEXT_MAX = 4 << 20;
const EP_CHAT = "/v1/chat/completions";
const EP_COMPLETIONS = "/v1/completions";

/** What the gateway process configures once (main.ts environment). */
export interface GuardrailOptions {
  /** A named-entity recogniser for person names (docs/guardrails.md, the sidecar contract); PERSON is checked when set. */
  nerUrl?: string | null;
  nerTimeoutMs?: number;
  judgeTimeoutMs?: number;
  /** Characters a stream's redaction may hold back (StreamRedactor lookahead); the module's default when absent. */
  streamLookahead?: number;
  /**
   * Calls one of the organisation's own deployments as the judge, through the gateway's routing
   * (server.ts): resolves with the judge's reply text; rejects with an Error whose `code` is a
   * low-cardinality reason (residency_refused, no_healthy_replica, timeout, http_<status>…).
   */
  deploymentJudge?: (scope: { orgId: string; dataClass: string }, deploymentId: string, messages: unknown, signal: AbortSignal) => Promise<string>;
}

/** The policy as the gateway applies it, derived once per EffectiveGuardrails object. */
interface Plan {
  piiInput: GuardrailAction;
  piiOutput: GuardrailAction;
  schema: GuardrailAction;
  grounded: GuardrailAction;
  types: PiiType[] | undefined;
  judge: GroundednessJudge | null;
  threshold: number;
  any: boolean;
}

const plans = new WeakMap<EffectiveGuardrails, Plan>();

function planOf(policy: EffectiveGuardrails): Plan {
  let plan = plans.get(policy);
  if (!plan) {
    const r = policy.rules;
    plan = {
      piiInput: r["pii.input"] ?? "off",
      piiOutput: r["pii.output"] ?? "off",
      schema: r["schema.output"] ?? "off",
      grounded: r["grounded.output"] ?? "off",
      types: policy.piiTypes && policy.piiTypes.length > 0 ? [...policy.piiTypes] : undefined,
      judge: policy.judge ?? null,
      threshold: typeof policy.groundedThreshold === "number" ? policy.groundedThreshold : DEFAULT_THRESHOLD,
      any: false,
    };
    plan.any = plan.piiInput !== "off" || plan.piiOutput !== "off" || plan.schema !== "off" || plan.grounded !== "off";
    plans.set(policy, plan);
  }
  return plan;
}

function invalid(param: string, message: string): GatewayErrorBody {
  return gatewayError(400, "invalid_request_error", "invalid_value", message, param);
}

/**
 * The request's guardrails, or null when none applies (the common case costs a WeakMap lookup),
 * or the 400 for an invalid `response_format` schema or `grounding` field. The `grounding`
 * extension field is removed from the body (the model servers do not know it): `rewrite` says
 * the body must be serialised again.
 */
export function prepareGuardrails(
  policy: EffectiveGuardrails,
  endpoint: string,
  body: Record<string, unknown>,
  t: RequestTrace,
  options: GuardrailOptions,
): { guard: RequestGuardrails | null; rewrite: boolean } | GatewayErrorBody | null {
  const plan = planOf(policy);
  const hasGrounding = body.grounding !== undefined;
  if (!plan.any && !hasGrounding) return null;
  if (endpoint !== EP_CHAT && endpoint !== EP_COMPLETIONS) return null;
  let sources: Source[] | null = null;
  if (hasGrounding) {
    const parsed = parseGrounding(body);
    if (!parsed.ok) return invalid(parsed.param ?? "grounding", parsed.message);
    sources = (parsed.sources as Source[] | null) ?? null;
    delete body.grounding;
  }
  let format: CompiledFormat | null = null;
  if (plan.schema !== "off" && body.response_format !== undefined && body.response_format !== null) {
    const compiled = compileResponseFormat(body.response_format);
    if (!compiled.ok) return invalid("response_format", compiled.message);
    format = compiled.format;
  }
  const needed = plan.piiInput !== "off" || plan.piiOutput !== "off" || format !== null || (plan.grounded !== "off" && sources !== null && sources.length > 0);
  return { guard: needed ? new RequestGuardrails(plan, endpoint, t, format, sources, options) : null, rewrite: hasGrounding };
}

// ---- what a verdict may say ----

/** Validator text (a reason, a message, a path) shown only when it is short and holds no personal data. */
function safeText(text: unknown, max = 200): string {
  if (typeof text !== "string" || text.length === 0) return "";
  const clipped = text.length > max ? `${text.slice(0, max)}…` : text;
  try {
    return detectPii(clipped).length > 0 ? "[withheld]" : clipped;
  } catch {
    return "[withheld]";
  }
}

function piiFindings(found: { f: PiiFinding; message?: number; part?: number }[]): PiiVerdictFindings {
  const types: Partial<Record<PiiType, number>> = {};
  const positions: PiiVerdictFindings["positions"] = [];
  for (const { f, message, part } of found) {
    types[f.type] = (types[f.type] ?? 0) + 1;
    if (positions.length < GUARDRAIL_MAX_POSITIONS) {
      const p: PiiVerdictFindings["positions"][number] = { type: f.type, start: f.start, end: f.end, score: f.score };
      if (message !== undefined) p.message = message;
      if (part !== undefined) p.part = part;
      positions.push(p);
    }
  }
  const out: PiiVerdictFindings = { count: found.length, types, positions };
  if (found.length > positions.length) out.truncated = true;
  return out;
}

const typeList = (f: PiiVerdictFindings) => Object.keys(f.types).sort().join(", ");

function errorCodeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && /^[A-Za-z0-9_.-]{1,40}$/.test(code)) return code;
  const name = (error as { name?: unknown } | null)?.name;
  if (name === "AbortError" || name === "TimeoutError") return "timeout";
  return "judge_failed";
}

/** The text of a chat message's content: a string, or its text parts. */
function contentTexts(content: unknown): { text: string; part?: number }[] {
  if (typeof content === "string") return [{ text: content }];
  if (!Array.isArray(content)) return [];
  const out: { text: string; part?: number }[] = [];
  for (let i = 0; i < content.length; i++) {
    const p = content[i] as { type?: unknown; text?: unknown } | null;
    if (p && p.type === "text" && typeof p.text === "string") out.push({ text: p.text, part: i });
  }
  return out;
}

// ---- the request's guardrails ----

export interface OutputResult {
  /** The answer is refused (block): the error to answer instead. */
  blocked: GatewayErrorBody | null;
  /** The answer was rewritten (redacted): serialise it again. */
  changed: boolean;
}

interface StreamChoice {
  redactor: StreamRedactor | null;
  /** What the client received (redacted), for the schema check (choice 0 only). */
  sent: string;
  /** What the model wrote, for groundedness and observed personal data (choice 0 only). */
  original: string;
  finishReason: string | null;
}

export class RequestGuardrails {
  readonly verdicts: GuardrailVerdict[] = [];
  /** One outcome code per verdict, for the usage record (types.ts outcomeCode). */
  readonly codes: number[] = [];
  private redactor: Redactor | null = null;
  private streamChoices: Map<number, StreamChoice> | null = null;
  private streamBlocked: PiiVerdictFindings | null = null;
  private streamStartedAt = 0;

  constructor(
    private readonly plan: Plan,
    private readonly endpoint: string,
    private readonly t: RequestTrace,
    private readonly format: CompiledFormat | null,
    private readonly sources: Source[] | null,
    private readonly options: GuardrailOptions,
  ) {
    t.verdicts = this.verdicts;
  }

  /** Who asks a deployment judge, and for which data class (set by the gateway once residency is decided). */
  judgeScope: { orgId: string; dataClass: string } | null = null;

  /** Whether a check runs on the answer. */
  get checksOutput(): boolean {
    return this.plan.piiOutput !== "off" || this.format !== null || this.groundedApplies;
  }

  /** Whether a stream's text must pass through the redactor (redact or block of personal data). */
  get rewritesStream(): boolean {
    return this.plan.piiOutput === "redact" || this.plan.piiOutput === "block";
  }

  private get groundedApplies() {
    return this.plan.grounded !== "off" && this.sources !== null && this.sources.length > 0;
  }

  private get sharedRedactor(): Redactor {
    return (this.redactor ??= new Redactor());
  }

  // ---- verdicts and spans ----

  private verdict(rule: GuardrailRule, check: GuardrailCheck, stage: GuardrailStage, action: Active, outcome: GuardrailOutcome, t0: number, extra: { reason?: string; findings?: GuardrailVerdict["findings"]; score?: number; events: SpanEvent[]; attributes?: Attributes }) {
    const v: GuardrailVerdict = { check, stage, action, outcome };
    if (extra.reason) v.reason = extra.reason;
    if (extra.findings) v.findings = extra.findings;
    if (extra.score !== undefined) v.score = extra.score;
    this.verdicts.push(v);
    this.codes.push(outcomeCode(rule, outcome));
    const attributes: Attributes = {
      "gen_ai.operation.name": "apply_guardrail",
      "gen_ai.provider.name": "enclave",
      "gen_ai.guardrail.component.name": check,
      "gen_ai.guardrail.policy.id": rule,
      "gen_ai.guardrail.source": stage,
      "gen_ai.guardrail.result.type": "outcome",
      "gen_ai.guardrail.result.value": outcome,
      "enclave.guardrail.action": action,
      ...extra.attributes,
    };
    if (extra.reason) attributes["gen_ai.guardrail.result.reason"] = extra.reason;
    if (outcome === "error") attributes["error.type"] = extra.reason ?? "guardrail_error";
    const now = performance.now();
    const atMs = this.t.event("", now).atMs;
    for (const e of extra.events) e.atMs = atMs;
    this.t.span(`apply_guardrail ${check}`, "internal", t0, now, outcome === "error" ? "error" : "ok", attributes, extra.events);
  }

  private piiVerdict(rule: "pii.input" | "pii.output", stage: GuardrailStage, action: Active, findings: PiiVerdictFindings, t0: number, outcome?: GuardrailOutcome, reason?: string) {
    const result: GuardrailOutcome = outcome ?? (findings.count === 0 ? "pass" : action === "observe" ? "flagged" : action === "redact" ? "redacted" : "blocked");
    const events: SpanEvent[] = [];
    const types = Object.keys(findings.types) as PiiType[];
    if (types.length === 0) events.push({ name: "gen_ai.guardrail.result", atMs: 0, attributes: { "gen_ai.guardrail.result.type": "count", "gen_ai.guardrail.result.value": "0" } });
    for (const type of types) {
      const at = findings.positions.filter((p) => p.type === type);
      const a: Attributes = {
        "gen_ai.guardrail.result.type": "count",
        "gen_ai.guardrail.result.value": String(findings.types[type]),
        "gen_ai.guardrail.risk.category": type,
        "gen_ai.guardrail.risk.score": at.reduce((m, p) => Math.max(m, p.score), 0),
        "enclave.guardrail.pii.count": findings.types[type] ?? 0,
        "enclave.guardrail.pii.starts": at.map((p) => p.start),
        "enclave.guardrail.pii.ends": at.map((p) => p.end),
      };
      if (at.some((p) => p.message !== undefined)) a["enclave.guardrail.pii.messages"] = at.map((p) => p.message ?? -1);
      events.push({ name: "gen_ai.guardrail.result", atMs: 0, attributes: a });
    }
    this.verdict(rule, "pii", stage, action, result, t0, { findings, events, reason, attributes: { "enclave.guardrail.pii.count": findings.count, "enclave.guardrail.pii.types": types } });
    return result;
  }

  // ---- input ----

  /**
   * Personal data in the request's texts, before the model sees it: `true` when the body was
   * redacted (serialise it again), `false` when unchanged, or the refusal (block).
   */
  async checkInput(body: Record<string, unknown>): Promise<GatewayErrorBody | boolean> {
    const action = this.plan.piiInput;
    if (action === "off") return false;
    const t0 = performance.now();
    const found: { f: PiiFinding; message?: number; part?: number }[] = [];
    // Each text with where it lives, so that redaction writes it back.
    const texts: { text: string; message?: number; part?: number; set: (s: string) => void }[] = [];
    if (this.endpoint === EP_CHAT && Array.isArray(body.messages)) {
      const messages = body.messages as { content?: unknown }[];
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i];
        if (!m || typeof m !== "object") continue;
        if (typeof m.content === "string") texts.push({ text: m.content, message: i, set: (s) => (m.content = s) });
        else
          for (const { text, part } of contentTexts(m.content)) {
            const parts = m.content as { text: string }[];
            texts.push({ text, message: i, part, set: (s) => (parts[part!].text = s) });
          }
      }
    } else if (this.endpoint === EP_COMPLETIONS) {
      if (typeof body.prompt === "string") texts.push({ text: body.prompt, set: (s) => (body.prompt = s) });
      else if (Array.isArray(body.prompt))
        body.prompt.forEach((p, i) => {
          if (typeof p === "string") texts.push({ text: p, message: i, set: (s) => ((body.prompt as string[])[i] = s) });
        });
    }
    let error: string | null = null;
    const perText: PiiFinding[][] = [];
    try {
      for (const entry of texts) {
        const findings = detectPii(entry.text, this.plan.types);
        perText.push(findings);
      }
      await this.addPersons(texts.map((e) => e.text), perText);
      texts.forEach((entry, i) => {
        for (const f of perText[i]) found.push({ f, message: entry.message, part: entry.part });
      });
    } catch (e) {
      error = errorCodeOf(e) === "judge_failed" ? "detector_failed" : errorCodeOf(e);
    }
    const findings = piiFindings(found);
    if (error !== null) {
      // A detector failure never lets data through a redact or block policy: the request is refused.
      this.piiVerdict("pii.input", "input", action, findings, t0, "error", error);
      return action === "observe" ? false : guardrailUnavailable("input");
    }
    const outcome = this.piiVerdict("pii.input", "input", action, findings, t0);
    if (outcome === "blocked") return inputBlocked(findings, this.endpoint === EP_CHAT ? "messages" : "prompt");
    if (outcome !== "redacted") return false;
    const redactor = this.sharedRedactor;
    texts.forEach((entry, i) => {
      if (perText[i].length > 0) entry.set(redactor.redact(entry.text, perText[i]));
    });
    return true;
  }

  /** PERSON findings from the sidecar, when one is configured and the policy checks PERSON. */
  private async addPersons(texts: string[], into: PiiFinding[][]) {
    const url = this.options.nerUrl;
    if (!url || (this.plan.types && !this.plan.types.includes("PERSON"))) return;
    const signal = AbortSignal.timeout(this.options.nerTimeoutMs ?? 500);
    const found = await Promise.all(texts.map((text) => (text.length > 0 ? detectPersons(text, { url, timeoutMs: this.options.nerTimeoutMs ?? 500, signal }) : [])));
    found.forEach((list, i) => into[i].push(...(list as PiiFinding[])));
  }

  // ---- output: a whole answer ----

  /** The answer's checks (non-streamed): may rewrite `answer` in place (redaction). */
  async checkAnswer(answer: { choices?: unknown }): Promise<OutputResult> {
    const choices = Array.isArray(answer.choices) ? (answer.choices as { message?: { content?: unknown }; text?: unknown; finish_reason?: unknown }[]) : [];
    const textOf = (c: (typeof choices)[number]) => (this.endpoint === EP_CHAT ? c?.message?.content : c?.text);
    const first = choices[0];
    const firstText = first ? textOf(first) : undefined;
    const text = typeof firstText === "string" ? firstText : "";
    const finish = typeof first?.finish_reason === "string" ? first.finish_reason : null;
    let blocked: GatewayErrorBody | null = null;
    let changed = false;

    // Personal data first: the schema is checked on what the client receives.
    const action = this.plan.piiOutput;
    if (action !== "off") {
      const t0 = performance.now();
      const found: { f: PiiFinding; message?: number }[] = [];
      const perChoice: PiiFinding[][] = [];
      let error: string | null = null;
      try {
        const texts = choices.map((c) => {
          const v = textOf(c);
          return typeof v === "string" ? v : "";
        });
        for (const s of texts) perChoice.push(s ? detectPii(s, this.plan.types) : []);
        await this.addPersons(texts, perChoice);
        perChoice.forEach((list, i) => list.forEach((f) => found.push({ f, message: i })));
      } catch (e) {
        error = errorCodeOf(e) === "judge_failed" ? "detector_failed" : errorCodeOf(e);
      }
      const findings = piiFindings(found);
      if (error !== null) {
        this.piiVerdict("pii.output", "output", action, findings, t0, "error", error);
        if (action !== "observe") blocked = guardrailUnavailable("output");
      } else {
        const outcome = this.piiVerdict("pii.output", "output", action, findings, t0);
        if (outcome === "blocked") blocked = outputBlocked("pii", `it contains personal data your organisation's guardrail policy blocks (${typeList(findings)})`);
        else if (outcome === "redacted") {
          const redactor = this.sharedRedactor;
          choices.forEach((c, i) => {
            if (perChoice[i].length === 0) return;
            const v = textOf(c) as string;
            if (this.endpoint === EP_CHAT) c.message!.content = redactor.redact(v, perChoice[i]);
            else c.text = redactor.redact(v, perChoice[i]);
          });
          changed = true;
        }
      }
    }
    const sent = changed && first ? String(textOf(first) ?? "") : text;
    const schemaBlock = this.checkSchema(sent, finish);
    blocked ??= schemaBlock;
    const groundedBlock = await this.checkGrounded(text);
    blocked ??= groundedBlock;
    return { blocked, changed };
  }

  private checkSchema(text: string, finishReason: string | null): GatewayErrorBody | null {
    const action = this.plan.schema;
    if (this.format === null || action === "off") return null;
    const t0 = performance.now();
    let findings: SchemaVerdictFindings;
    try {
      const v = this.format.validate(text, finishReason);
      const errors = (v.errors ?? []).slice(0, GUARDRAIL_MAX_POSITIONS).map((e) => ({ path: safeText(e.path, 300), keyword: safeText(e.keyword, 40), message: safeText(e.message) }));
      findings = { valid: v.valid, reason: v.valid ? null : safeText(v.reason) || "invalid", errors };
    } catch (e) {
      this.verdict("schema.output", "schema", "output", action, "error", t0, { reason: "validator_failed", events: [{ name: "gen_ai.guardrail.result", atMs: 0, attributes: { "error.type": errorCodeOf(e) } }] });
      return null;
    }
    const outcome: GuardrailOutcome = findings.valid ? "pass" : action === "block" ? "blocked" : "flagged";
    const a: Attributes = { "gen_ai.guardrail.result.type": "valid", "gen_ai.guardrail.result.value": String(findings.valid), "enclave.guardrail.schema.valid": findings.valid };
    if (findings.reason) a["enclave.guardrail.schema.reason"] = findings.reason;
    if (findings.errors.length > 0) {
      a["enclave.guardrail.schema.error_paths"] = findings.errors.map((e) => e.path);
      a["enclave.guardrail.schema.error_keywords"] = findings.errors.map((e) => e.keyword);
    }
    this.verdict("schema.output", "schema", "output", action, outcome, t0, {
      findings,
      reason: findings.valid ? undefined : (findings.reason ?? undefined),
      events: [{ name: "gen_ai.guardrail.result", atMs: 0, attributes: a }],
      attributes: { "enclave.guardrail.schema.valid": findings.valid },
    });
    if (outcome !== "blocked") return null;
    const paths = findings.errors.slice(0, 5).map((e) => `${e.path || "/"} ${e.keyword}`);
    return outputBlocked("schema", `it failed validation against the request's response_format (${findings.reason}${paths.length ? `: ${paths.join("; ")}` : ""})`);
  }

  private async checkGrounded(answer: string): Promise<GatewayErrorBody | null> {
    const action = this.plan.grounded;
    if (!this.groundedApplies || action === "off") return null;
    const sources = this.sources!;
    const t0 = performance.now();
    const threshold = this.plan.threshold;
    let builtin: ReturnType<typeof checkGroundedness>;
    try {
      builtin = checkGroundedness(answer, sources);
    } catch (e) {
      this.verdict("grounded.output", "grounded", "output", action, "error", t0, { reason: "checker_failed", events: [{ name: "gen_ai.guardrail.result", atMs: 0, attributes: { "error.type": errorCodeOf(e) } }] });
      return null;
    }
    const unsupported = (builtin.unsupported ?? []).slice(0, GUARDRAIL_MAX_POSITIONS).map((u) => ({ start: u.start, end: u.end, kind: String(u.kind) }));
    const findings: GroundedVerdictFindings = {
      score: builtin.score,
      threshold,
      builtinScore: builtin.score,
      sentences: builtin.sentences,
      unsupportedSentences: builtin.unsupportedSentences,
      unsupported,
      sources: sources.length,
    };
    let outcome: GuardrailOutcome = builtin.score < threshold ? (action === "block" ? "blocked" : "flagged") : "pass";
    let reason: string | undefined = outcome === "pass" ? undefined : "below_threshold";
    const judge = this.plan.judge;
    // The judge is asked only about an answer the deterministic check did not already fail.
    if (judge && outcome === "pass") {
      findings.judge = judge.kind;
      try {
        const result = await this.askJudge(judge, sources, answer);
        const score = Math.max(0, Math.min(1, Number(result.score)));
        if (!Number.isFinite(score)) throw Object.assign(new Error("judge score"), { code: "judge_bad_reply" });
        findings.judgeScore = score;
        findings.score = Math.min(builtin.score, score);
        for (const u of result.unsupported ?? []) if (findings.unsupported.length < GUARDRAIL_MAX_POSITIONS) findings.unsupported.push({ start: u.start, end: u.end, kind: "judge" });
        if (findings.score < threshold) {
          outcome = action === "block" ? "blocked" : "flagged";
          reason = "below_threshold";
        }
      } catch (e) {
        findings.judgeError = errorCodeOf(e);
        outcome = "error";
        reason = findings.judgeError;
      }
    }
    const a: Attributes = {
      "gen_ai.guardrail.result.type": "score",
      "gen_ai.guardrail.result.value": String(findings.score),
      "enclave.guardrail.grounded.score": findings.score,
      "enclave.guardrail.grounded.threshold": threshold,
      "enclave.guardrail.grounded.builtin_score": findings.builtinScore,
      "enclave.guardrail.grounded.sentences": findings.sentences,
      "enclave.guardrail.grounded.unsupported_sentences": findings.unsupportedSentences,
      "enclave.guardrail.grounded.unsupported_starts": unsupported.map((u) => u.start),
      "enclave.guardrail.grounded.unsupported_ends": unsupported.map((u) => u.end),
      "enclave.guardrail.grounded.unsupported_kinds": unsupported.map((u) => u.kind),
      "enclave.guardrail.grounded.sources": sources.length,
    };
    if (findings.judge) a["enclave.guardrail.grounded.judge"] = findings.judge;
    if (findings.judgeScore !== undefined) a["enclave.guardrail.grounded.judge_score"] = findings.judgeScore;
    if (findings.judgeError) a["error.type"] = findings.judgeError;
    this.verdict("grounded.output", "grounded", "output", action, outcome, t0, {
      findings,
      score: findings.score,
      reason,
      events: [{ name: "gen_ai.guardrail.result", atMs: 0, attributes: a }],
      attributes: { "enclave.guardrail.grounded.score": findings.score, ...(findings.judge ? { "enclave.guardrail.grounded.judge": findings.judge } : {}) },
    });
    if (outcome !== "blocked") return null;
    return outputBlocked("grounded", `it is not supported by the grounding sources (score ${findings.score.toFixed(2)}, under ${threshold})`);
  }

  private async askJudge(judge: GroundednessJudge, sources: Source[], answer: string): Promise<JudgeResult> {
    const timeoutMs = this.options.judgeTimeoutMs ?? 10_000;
    const signal = AbortSignal.timeout(timeoutMs);
    if (judge.kind === "http") return (await verifyOverHttp(judge.url, { sources, answer }, { timeoutMs, signal })) as JudgeResult;
    const call = this.options.deploymentJudge;
    if (!call || !this.judgeScope) throw Object.assign(new Error("no deployment judge"), { code: "judge_unavailable" });
    const reply = await call(this.judgeScope, judge.deploymentId, judgeMessages(sources, answer), signal);
    const parsed = parseJudgeReply(reply);
    if (!parsed) throw Object.assign(new Error("judge reply"), { code: "judge_bad_reply" });
    return parsed;
  }

  // ---- output: a stream ----

  private choice(index: number): StreamChoice {
    const map = (this.streamChoices ??= new Map());
    let c = map.get(index);
    if (!c) {
      if (this.streamStartedAt === 0) this.streamStartedAt = performance.now();
      c = {
        redactor: this.rewritesStream ? new StreamRedactor({ types: this.plan.types, redactor: this.sharedRedactor, lookahead: this.options.streamLookahead }) : null,
        sent: "",
        original: "",
        finishReason: null,
      };
      map.set(index, c);
    }
    return c;
  }

  /**
   * A content delta of choice `index`: the text to send now (redacted, possibly held back up to
   * the lookahead), or null when the stream must end with the block error (`streamBlockedError`).
   * `finishReason` set: the choice's last delta, everything held back is released.
   */
  streamDelta(index: number, content: string, finishReason: string | null): string | null {
    const c = this.choice(index);
    if (index === 0 && c.original.length < STREAM_TEXT_MAX) c.original += content;
    let out = content;
    if (c.redactor) {
      const before = c.redactor.findings.length;
      out = c.redactor.push(content);
      if (finishReason !== null) out += c.redactor.end();
      if (this.plan.piiOutput === "block" && c.redactor.findings.length > before) {
        this.streamBlocked = piiFindings(c.redactor.findings.map((f: PiiFinding) => ({ f, message: index })));
        return null;
      }
    }
    if (finishReason !== null) c.finishReason = finishReason;
    if (index === 0 && c.sent.length < STREAM_TEXT_MAX) c.sent += out;
    return out;
  }

  /** A finish_reason without content (its own chunk): what was held back, or null when blocked. */
  streamFinish(index: number, finishReason: string): string | null {
    return this.streamDelta(index, "", finishReason);
  }

  /** Whatever every choice still holds back (the stream ended without a finish_reason): [index, text] pairs. */
  streamRelease(): [number, string][] | null {
    const out: [number, string][] = [];
    if (!this.streamChoices) return out;
    for (const [index, c] of this.streamChoices) {
      if (!c.redactor) continue;
      const before = c.redactor.findings.length;
      const rest = c.redactor.end();
      if (this.plan.piiOutput === "block" && c.redactor.findings.length > before) {
        this.streamBlocked = piiFindings(c.redactor.findings.map((f: PiiFinding) => ({ f, message: index })));
        return null;
      }
      if (index === 0 && c.sent.length < STREAM_TEXT_MAX) c.sent += rest;
      if (rest) out.push([index, rest]);
    }
    return out;
  }

  /** The personal-data verdict of a stream that was blocked mid-way, and its error. */
  streamBlockedError(): GatewayErrorBody {
    const findings = this.streamBlocked ?? piiFindings([]);
    this.piiVerdict("pii.output", "output", "block", findings, this.streamStartedAt || performance.now(), "blocked");
    return outputBlocked("pii", `it contains personal data your organisation's guardrail policy blocks (${typeList(findings)})`);
  }

  /** At the end of a stream (before `[DONE]`): the checks on the accumulated text; the error to send instead of the verdict chunk when one blocks. */
  async finishStream(): Promise<GatewayErrorBody | null> {
    const c = this.streamChoices?.get(0) ?? { redactor: null, sent: "", original: "", finishReason: null };
    const action = this.plan.piiOutput;
    if (action !== "off") {
      const t0 = this.streamStartedAt || performance.now();
      if (c.redactor) {
        const all: { f: PiiFinding; message?: number }[] = [];
        for (const [index, choice] of this.streamChoices ?? []) for (const f of choice.redactor?.findings ?? []) all.push({ f, message: index });
        this.piiVerdict("pii.output", "output", action, piiFindings(all), t0);
      } else {
        try {
          const found = c.original ? detectPii(c.original, this.plan.types) : [];
          this.piiVerdict("pii.output", "output", action, piiFindings(found.map((f) => ({ f, message: 0 }))), performance.now());
        } catch (e) {
          this.piiVerdict("pii.output", "output", action, piiFindings([]), performance.now(), "error", errorCodeOf(e));
        }
      }
    }
    const schemaBlock = this.checkSchema(c.sent, c.finishReason);
    const groundedBlock = await this.checkGrounded(c.original);
    return schemaBlock ?? groundedBlock;
  }

  // ---- summaries ----

  /** `x-enclave-guardrails`: `<rule>=<outcome>[:<count or score>]`, `; `-separated (docs/guardrails.md). */
  summary(): string {
    let out = "";
    for (const v of this.verdicts) {
      const key = v.check === "pii" ? `pii.${v.stage}` : v.check;
      let detail = "";
      if (v.check === "pii" && v.findings && (v.findings as PiiVerdictFindings).count > 0) detail = `:${(v.findings as PiiVerdictFindings).count}`;
      else if (v.check === "schema" && v.findings && (v.findings as SchemaVerdictFindings).errors?.length > 0) detail = `:${(v.findings as SchemaVerdictFindings).errors.length}`;
      else if (v.check === "grounded" && typeof v.score === "number") detail = `:${v.score.toFixed(2)}`;
      out += `${out ? "; " : ""}${key}=${v.outcome}${detail}`;
    }
    return out;
  }

  /** The stream's final SSE event before `[DONE]`: a chunk with no choices, which the OpenAI SDKs pass through. */
  verdictEvent(id: string, created: number, model: string): Buffer {
    const payload = { id, object: "chat.completion.chunk", created, model, choices: [], enclave_guardrails: { summary: this.summary(), verdicts: this.verdicts } };
    return Buffer.from(`data: ${JSON.stringify(payload)}\n\n`);
  }
}

// ---- errors ----

function inputBlocked(findings: PiiVerdictFindings, param: string): GatewayErrorBody {
  const n = findings.count;
  return gatewayError(
    400,
    "invalid_request_error",
    "guardrail_blocked",
    `Your organisation's guardrail policy blocks personal data in requests; this one contains ${n} item${n === 1 ? "" : "s"} of type ${typeList(findings)}. Remove it, or ask an owner or admin to change the policy.`,
    param,
  );
}

/** 422: the request was fine, the model's answer is refused by the policy (not retried by the SDKs; the call is billed). */
function outputBlocked(check: GuardrailCheck, why: string): GatewayErrorBody {
  return gatewayError(422, "guardrail_error", "guardrail_blocked", `The model's answer was withheld by your organisation's ${check} guardrail: ${why}. The call is billed.`);
}

function guardrailUnavailable(stage: GuardrailStage): GatewayErrorBody {
  return gatewayError(503, "server_error", "guardrail_unavailable", `The personal-data check of the ${stage} could not run, and your organisation's policy does not let unchecked data through. Retry shortly.`, null, 1);
}
