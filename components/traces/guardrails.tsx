"use client";
// The guardrails of one request in the trace view: the outcome of each `apply_guardrail <check>`
// span in the waterfall, and a "Guardrails" section listing each verdict with what it found —
// types and counts, positions, failing schema paths, unsupported spans, scores. Verdicts hold no
// personal data (server/gateway/trace.ts GuardrailVerdict): this shows them as they are, and a
// verdict shape it does not know as its JSON.
import { formatNumber } from "../format";
import { Badge } from "../ui/layout";
import type { Span, TraceRequest } from "./waterfall";

type Verdict = TraceRequest["verdicts"][number];
type Tone = "good" | "warn" | "bad" | "neutral" | "info";

/** A guardrail check's span: `apply_guardrail <check>` (OpenTelemetry GenAI), or `guardrail.<check>` from earlier writers. */
export const isGuardrailSpan = (span: { name: string }) => span.name === "apply_guardrail" || span.name.startsWith("apply_guardrail ") || span.name.startsWith("guardrail.");

/** The outcome a guardrail span records (`gen_ai.guardrail.result.value`), or null. */
export function spanOutcome(span: Span): string | null {
  if (!isGuardrailSpan(span)) return null;
  const v = span.attributes["gen_ai.guardrail.result.value"] ?? span.attributes["enclave.guardrail.outcome"];
  return typeof v === "string" ? v : null;
}

export function outcomeTone(outcome: string): Tone {
  if (outcome === "pass") return "good";
  if (outcome === "blocked" || outcome === "error") return "bad";
  if (outcome === "flagged" || outcome === "redacted") return "warn";
  return "neutral";
}

const OUTCOME_LABELS: Record<string, string> = { pass: "passed", flagged: "failed, recorded", redacted: "redacted", blocked: "blocked", error: "error" };
export const outcomeLabel = (outcome: string) => OUTCOME_LABELS[outcome] ?? outcome;

/** The outcome next to a guardrail span's name in the waterfall. */
export function SpanOutcomeTag({ span }: { span: Span }) {
  const outcome = spanOutcome(span);
  if (!outcome) return null;
  return (
    <span className="ml-1 align-middle" data-testid="span-guardrail-outcome" data-outcome={outcome}>
      <Badge tone={outcomeTone(outcome)}>{outcomeLabel(outcome)}</Badge>
    </span>
  );
}

const CHECK_LABELS: Record<string, string> = { schema: "JSON schema", pii: "Personal data", grounded: "Groundedness" };
const STAGE_LABELS: Record<string, string> = { input: "prompt", output: "answer" };
const ACTION_LABELS: Record<string, string> = { observe: "observe (record only)", redact: "redact", block: "block" };
const REASON_LABELS: Record<string, string> = {
  truncated: "the answer was cut off (finish_reason length): it is not complete JSON",
  invalid_json: "the answer is not valid JSON",
  schema: "the answer does not match the schema",
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown) => (typeof v === "string" ? v : null);
const score = (v: number | null) => (v === null ? "—" : v.toFixed(2));

/** Every verdict of the request, with the reasons of each. */
export function GuardrailVerdicts({ request }: { request: TraceRequest }) {
  const spans = request.spans.filter(isGuardrailSpan);
  if (request.verdicts.length === 0 && spans.length === 0) return null;
  return (
    <section aria-labelledby="trace-guardrails" className="rounded-lg border border-slate-200 bg-white p-4 shadow-sm" data-testid="trace-guardrails">
      <h2 id="trace-guardrails" className="mb-1 text-sm font-semibold text-slate-700">
        Guardrails
      </h2>
      <p className="mb-3 text-xs text-slate-500">What each check found: types, counts, positions (UTF-16 offsets into the checked text) and scores, never the data itself.</p>
      {request.verdicts.length === 0 ? (
        <p className="text-sm text-slate-600">The checks ran ({spans.map((s) => s.name).join(", ")}) but their verdicts were not recorded with the trace.</p>
      ) : (
        <ul className="space-y-3">
          {request.verdicts.map((v, i) => (
            <VerdictItem key={i} verdict={v} />
          ))}
        </ul>
      )}
    </section>
  );
}

function VerdictItem({ verdict: v }: { verdict: Verdict }) {
  const f = v.findings;
  return (
    <li className="rounded-md border border-slate-200 p-3" data-testid="guardrail-verdict" data-check={v.check} data-stage={v.stage} data-outcome={v.outcome}>
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
        <span className="font-medium text-slate-900">
          {CHECK_LABELS[v.check] ?? v.check} <span className="font-normal text-slate-600">of the {STAGE_LABELS[v.stage] ?? v.stage}</span>
        </span>
        <Badge tone={outcomeTone(v.outcome)}>{outcomeLabel(v.outcome)}</Badge>
        <span className="text-xs text-slate-500">
          action: <span className="text-slate-700">{ACTION_LABELS[v.action] ?? v.action}</span>
        </span>
        {v.score !== null && (
          <span className="text-xs text-slate-500">
            score: <span className="tabular-nums text-slate-700" data-testid="guardrail-score">{score(v.score)}</span>
          </span>
        )}
      </div>
      <dl className="mt-2 grid grid-cols-[minmax(0,8rem)_1fr] gap-x-3 gap-y-1 text-sm">
        <dt className="text-slate-500">Check</dt>
        <dd className="min-w-0">
          <code className="font-mono text-xs">{v.check}.{v.stage}</code>
        </dd>
        {v.reason && (
          <>
            <dt className="text-slate-500">Reason</dt>
            <dd className="min-w-0" data-testid="guardrail-reason">
              <code className="font-mono text-xs">{v.reason}</code>
              {REASON_LABELS[v.reason] && <span className="ml-1 text-slate-600">: {REASON_LABELS[v.reason]}</span>}
            </dd>
          </>
        )}
        {f && <Findings check={v.check} findings={f} />}
      </dl>
    </li>
  );
}

function Findings({ check, findings }: { check: string; findings: Record<string, unknown> }) {
  if (check === "pii" && isRecord(findings.types)) return <PiiFindings findings={findings} />;
  if (check === "schema" && Array.isArray(findings.errors)) return <SchemaFindings findings={findings} />;
  if (check === "grounded" && num(findings.score) !== null) return <GroundedFindings findings={findings} />;
  return (
    <>
      <dt className="text-slate-500">Findings</dt>
      <dd className="min-w-0">
        <code className="break-all font-mono text-xs">{JSON.stringify(findings)}</code>
      </dd>
    </>
  );
}

function PiiFindings({ findings }: { findings: Record<string, unknown> }) {
  const types = Object.entries(findings.types as Record<string, unknown>).filter(([, n]) => num(n) !== null) as [string, number][];
  const positions = Array.isArray(findings.positions) ? findings.positions.filter(isRecord) : [];
  return (
    <>
      <dt className="text-slate-500">Found</dt>
      <dd className="min-w-0" data-testid="guardrail-pii-types">
        {types.length === 0 ? (
          <span className="text-slate-600">nothing</span>
        ) : (
          <span className="flex flex-wrap gap-1">
            {types.map(([type, n]) => (
              <Badge key={type} tone="info">
                {type} × {formatNumber(n)}
              </Badge>
            ))}
          </span>
        )}
      </dd>
      {positions.length > 0 && (
        <>
          <dt className="text-slate-500">Where</dt>
          <dd className="min-w-0">
            <ul className="flex flex-wrap gap-x-3 gap-y-0.5 font-mono text-xs text-slate-700">
              {positions.map((p, i) => (
                <li key={i}>
                  {str(p.type)} {num(p.message) !== null ? `message ${num(p.message)} ` : ""}[{num(p.start)}–{num(p.end)})
                  {num(p.score) !== null && num(p.score)! < 1 ? ` score ${score(num(p.score))}` : ""}
                </li>
              ))}
              {findings.truncated === true && <li className="font-sans text-slate-500">and more (not all positions are kept)</li>}
            </ul>
          </dd>
        </>
      )}
    </>
  );
}

function SchemaFindings({ findings }: { findings: Record<string, unknown> }) {
  const errors = (findings.errors as unknown[]).filter(isRecord);
  return (
    <>
      <dt className="text-slate-500">Valid</dt>
      <dd>{findings.valid === true ? "yes" : findings.valid === false ? "no" : "—"}</dd>
      {errors.length > 0 && (
        <>
          <dt className="text-slate-500">Failing paths</dt>
          <dd className="min-w-0">
            <ul className="space-y-0.5 text-xs" data-testid="guardrail-schema-errors">
              {errors.map((e, i) => (
                <li key={i}>
                  <code className="font-mono">{str(e.path) || "/"}</code> <span className="text-slate-500">({str(e.keyword) ?? "?"})</span> {str(e.message)}
                </li>
              ))}
            </ul>
          </dd>
        </>
      )}
    </>
  );
}

function GroundedFindings({ findings }: { findings: Record<string, unknown> }) {
  const unsupported = Array.isArray(findings.unsupported) ? findings.unsupported.filter(isRecord) : [];
  const judge = str(findings.judge);
  return (
    <>
      <dt className="text-slate-500">Score</dt>
      <dd className="tabular-nums">
        {score(num(findings.score))} <span className="text-slate-500">(fails under {score(num(findings.threshold))})</span>
      </dd>
      <dt className="text-slate-500">Scores</dt>
      <dd className="text-xs">
        built-in {score(num(findings.builtinScore))}
        {judge && (
          <>
            {" "}
            · judge ({judge}) {num(findings.judgeScore) !== null ? score(num(findings.judgeScore)) : <>no score: <code className="font-mono">{str(findings.judgeError) ?? "unknown"}</code></>}
          </>
        )}
      </dd>
      <dt className="text-slate-500">Sentences</dt>
      <dd className="text-xs tabular-nums">
        {formatNumber(num(findings.unsupportedSentences) ?? 0)} of {formatNumber(num(findings.sentences) ?? 0)} unsupported, against {formatNumber(num(findings.sources) ?? 0)} sources
      </dd>
      {unsupported.length > 0 && (
        <>
          <dt className="text-slate-500">Unsupported</dt>
          <dd className="min-w-0">
            <ul className="flex flex-wrap gap-x-3 gap-y-0.5 font-mono text-xs text-slate-700" data-testid="guardrail-unsupported">
              {unsupported.map((u, i) => (
                <li key={i}>
                  {str(u.kind) ?? "span"} [{num(u.start)}–{num(u.end)})
                </li>
              ))}
            </ul>
          </dd>
        </>
      )}
    </>
  );
}
