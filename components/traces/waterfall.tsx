"use client";
import type { RouterOutputs } from "../trpc";
import { formatMs } from "./format";
import { outcomeLabel, spanOutcome, SpanOutcomeTag } from "./guardrails";

type Trace = RouterOutputs["traces"]["get"];
export type TraceRequest = Trace["requests"][number];
export type Span = TraceRequest["spans"][number];

export interface WaterfallRow {
  /** Unique on the page: request span id + span id. */
  key: string;
  request: TraceRequest;
  span: Span;
  depth: number;
  /** The span's start, in milliseconds from the trace's start. */
  atMs: number;
}

/**
 * The rows of the waterfall: each request's spans nested under their parent (depth first, siblings
 * by start time), placed on the trace's time line. A span whose parent is not in the record (the
 * caller's span, or one a later writer dropped) is a root.
 */
export function waterfallRows(trace: Trace): WaterfallRow[] {
  const origin = new Date(trace.startedAt).getTime();
  const rows: WaterfallRow[] = [];
  for (const request of trace.requests) {
    const offset = new Date(request.startedAt).getTime() - origin;
    const ids = new Set(request.spans.map((s) => s.spanId));
    const children = new Map<string | null, Span[]>();
    for (const s of request.spans) {
      const parent = s.parentSpanId && ids.has(s.parentSpanId) && s.parentSpanId !== s.spanId ? s.parentSpanId : null;
      children.set(parent, [...(children.get(parent) ?? []), s]);
    }
    const seen = new Set<string>();
    const visit = (parent: string | null, depth: number) => {
      for (const s of [...(children.get(parent) ?? [])].sort((x, y) => x.startMs - y.startMs)) {
        if (seen.has(s.spanId)) continue;
        seen.add(s.spanId);
        rows.push({ key: `${request.spanId}:${s.spanId}`, request, span: s, depth, atMs: offset + s.startMs });
        visit(s.spanId, depth + 1);
      }
    };
    visit(null, 0);
  }
  return rows;
}

const barTone: Record<Span["status"], string> = {
  ok: "bg-brand-600",
  // Stripes as well as red: an error reads without colour too.
  error: "bg-red-600 bg-[repeating-linear-gradient(45deg,transparent,transparent_4px,rgba(255,255,255,0.35)_4px,rgba(255,255,255,0.35)_8px)]",
  unset: "bg-slate-400",
};

function spanDescription(row: WaterfallRow): string {
  const s = row.span;
  const requestOffset = row.atMs - s.startMs;
  const events = s.events.length ? `; ${s.events.map((e) => `${e.name.replace(/_/g, " ")} at ${formatMs(requestOffset + e.atMs)}`).join(", ")}` : "";
  const status = s.status === "error" ? ", failed" : s.status === "unset" ? "" : ", succeeded";
  const outcome = spanOutcome(s);
  return `${s.name}${outcome ? ` (${outcomeLabel(outcome)})` : ""}: starts at ${formatMs(row.atMs)}, lasts ${formatMs(s.durationMs)}${status}${events}`;
}

/** The spans of a trace as bars on one time axis; each row is a button that selects the span. */
export function Waterfall({ trace, rows, selected, onSelect }: { trace: Trace; rows: WaterfallRow[]; selected: string | null; onSelect: (key: string) => void }) {
  const total = Math.max(trace.durationMs, ...rows.map((r) => r.atMs + r.span.durationMs), 0.001);
  const pct = (ms: number) => `${Math.min(100, Math.max(0, (100 * ms) / total))}%`;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  let lastRequest: string | null = null;
  return (
    <div data-testid="waterfall">
      <div className="grid grid-cols-[minmax(0,8.5rem)_1fr] gap-2 border-b border-slate-200 pb-1 text-xs text-slate-500 sm:grid-cols-[minmax(0,14rem)_1fr]" aria-hidden>
        <span>Span</span>
        <div className="relative h-4">
          {ticks.map((t) => (
            // On a phone, the quarter ticks would overlap: start, middle and end only.
            <span key={t} className={`absolute top-0 whitespace-nowrap tabular-nums ${t === 0 ? "" : t === 1 ? "-translate-x-full" : "-translate-x-1/2"} ${t === 0.25 || t === 0.75 ? "hidden sm:inline" : ""}`} style={{ left: `${t * 100}%` }}>
              {formatMs(total * t)}
            </span>
          ))}
        </div>
      </div>
      <ol aria-label={`Spans of the trace, on a time line of ${formatMs(total)}`} className="divide-y divide-slate-100">
        {rows.map((row) => {
          const header = trace.requests.length > 1 && row.request.spanId !== lastRequest;
          lastRequest = row.request.spanId;
          const isSelected = selected === row.key;
          const s = row.span;
          return (
            <li key={row.key}>
              {header && (
                <p className="bg-slate-50 px-1 py-1 text-xs font-semibold text-slate-600">
                  Request {trace.requests.indexOf(row.request) + 1} · {row.request.endpoint} · {row.request.status}
                </p>
              )}
              <button
                type="button"
                onClick={() => onSelect(row.key)}
                aria-pressed={isSelected}
                aria-label={spanDescription(row)}
                data-testid="waterfall-span"
                data-span-name={s.name}
                className={`grid w-full grid-cols-[minmax(0,8.5rem)_1fr] items-center gap-2 px-1 py-1.5 text-left focus:outline-none focus-visible:ring-2 focus-visible:ring-brand-500 sm:grid-cols-[minmax(0,14rem)_1fr] ${isSelected ? "bg-brand-50" : "hover:bg-slate-50"}`}
              >
                <span className="min-w-0" style={{ paddingLeft: `${Math.min(row.depth, 6) * 0.75}rem` }}>
                  <span className="block truncate font-mono text-xs font-medium text-slate-800">
                    {s.status === "error" && <span className="mr-1 text-red-700">✕</span>}
                    {s.name}
                  </span>
                  <SpanOutcomeTag span={s} />
                  <span className="block text-[11px] tabular-nums text-slate-500">
                    +{formatMs(row.atMs)} · {formatMs(s.durationMs)}
                    {s.status === "error" && " · error"}
                  </span>
                </span>
                <span className="relative block h-5 rounded bg-slate-100" aria-hidden>
                  <span className={`absolute top-0.5 bottom-0.5 rounded-sm ${barTone[s.status]}`} style={{ left: pct(row.atMs), width: `max(2px, ${pct(s.durationMs)})` }} />
                  {s.events.map((e, i) => (
                    <span key={i} title={`${e.name} at ${formatMs(row.atMs - s.startMs + e.atMs)}`} className="absolute top-0 bottom-0 w-0.5 bg-amber-500" style={{ left: pct(row.atMs - s.startMs + e.atMs) }} />
                  ))}
                </span>
              </button>
            </li>
          );
        })}
      </ol>
      <p className="mt-2 flex flex-wrap gap-x-4 gap-y-1 text-xs text-slate-500">
        <span><span className="mr-1 inline-block h-2 w-3 rounded-sm bg-brand-600 align-middle" aria-hidden />succeeded</span>
        <span><span className={`mr-1 inline-block h-2 w-3 rounded-sm align-middle ${barTone.error}`} aria-hidden />✕ failed</span>
        <span><span className="mr-1 inline-block h-2 w-3 rounded-sm bg-slate-400 align-middle" aria-hidden />no status</span>
        <span><span className="mr-1 inline-block h-2.5 w-0.5 bg-amber-500 align-middle" aria-hidden />event (connected, first byte, first token)</span>
      </p>
    </div>
  );
}
