"use client";
import Link from "next/link";
import { useMemo, useState, type ReactNode } from "react";
import { formatNumber } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterOutputs } from "../trpc";
import { CopyButton } from "../ui/copy-button";
import { Badge, Card, PageHeader, Stat } from "../ui/layout";
import { QueryView } from "../ui/states";
import { attributeText, formatCost, formatMs, formatTime, statusLabel, statusTone } from "./format";
import { GuardrailVerdicts } from "./guardrails";
import { Waterfall, waterfallRows, type Span, type TraceRequest } from "./waterfall";

export function TraceView({ traceId }: { traceId: string }) {
  const org = useCurrentOrg();
  const trace = api.traces.get.useQuery({ orgId: org.id, traceId });
  return (
    <>
      <Link href={`/o/${org.slug}/traces`} className="mb-2 inline-block text-sm font-medium text-brand-700 underline-offset-2 hover:underline">
        ← Traces
      </Link>
      <PageHeader
        title="Trace"
        description={
          <span className="flex flex-wrap items-center gap-2">
            <code className="break-all font-mono text-xs text-slate-700" data-testid="trace-id">{traceId}</code>
            <CopyButton text={traceId} label="Copy trace id" className="px-2 py-1 text-xs" />
          </span>
        }
      />
      <QueryView query={trace}>{(t) => <TraceBody trace={t} />}</QueryView>
    </>
  );
}

function TraceBody({ trace }: { trace: RouterOutputs["traces"]["get"] }) {
  const rows = useMemo(() => waterfallRows(trace), [trace]);
  const [selected, setSelected] = useState<string | null>(rows[0]?.key ?? null);
  const row = rows.find((r) => r.key === selected) ?? rows[0];
  const request = row?.request ?? trace.requests[0];
  return (
    <div className="space-y-6">
      {trace.requests.length > 1 && (
        <p className="text-sm text-slate-600">
          This trace holds {trace.requests.length} requests of your organisation over {formatMs(trace.durationMs)}; select a span to see its request.
        </p>
      )}
      <RequestStats request={request} />
      <Card title="Waterfall">
        {rows.length ? <Waterfall trace={trace} rows={rows} selected={row?.key ?? null} onSelect={setSelected} /> : <p className="text-sm text-slate-600">This request recorded no spans.</p>}
      </Card>
      <div className="grid gap-6 lg:grid-cols-2">
        {row && <SpanDetails span={row.span} atMs={row.atMs} />}
        <RequestDetails request={request} />
        <Residency request={request} />
        <Artifact request={request} />
      </div>
      <GuardrailVerdicts request={request} />
      {request.content && <Content content={request.content} />}
      {request.contentWithheld && (
        <Card title="Stored content">
          <p className="text-sm text-slate-600">This key captures prompts and completions; they are shown to admins and owners of the organisation only.</p>
        </Card>
      )}
    </div>
  );
}

function RequestStats({ request }: { request: TraceRequest }) {
  return (
    <div className="grid grid-cols-2 gap-3 md:grid-cols-5">
      <Stat
        label="Status"
        value={
          <span data-testid="trace-status">
            {request.status} <span className="text-base font-medium text-slate-600">{statusLabel(request.status)}</span>
          </span>
        }
        hint={request.errorCode ?? undefined}
      />
      <Stat label="Latency" value={formatMs(request.durationMs)} />
      <Stat label="Time to first token" value={formatMs(request.ttftMs)} />
      <Stat label="Tokens in → out" value={`${formatNumber(request.tokensIn)} → ${formatNumber(request.tokensOut)}`} />
      <Stat label="Cost" value={formatCost(request.costEur)} />
    </div>
  );
}

function Facts({ items }: { items: [string, ReactNode][] }) {
  return (
    <dl className="grid grid-cols-[minmax(0,9rem)_1fr] gap-x-3 gap-y-1.5 text-sm">
      {items.map(([term, value]) => (
        <div key={term} className="contents">
          <dt className="text-slate-500">{term}</dt>
          <dd className="min-w-0 break-words">{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function SpanDetails({ span, atMs }: { span: Span; atMs: number }) {
  const attributes = Object.entries(span.attributes).sort(([x], [y]) => x.localeCompare(y));
  return (
    <Card title={<>Span <code className="font-mono">{span.name}</code></>}>
      <div data-testid="span-details" className="space-y-4">
        <Facts
          items={[
            ["Kind", span.kind],
            ["Status", <Badge key="s" tone={span.status === "error" ? "bad" : span.status === "ok" ? "good" : "neutral"}>{span.status}</Badge>],
            ["Starts at", <span key="a" className="tabular-nums">+{formatMs(atMs)}</span>],
            ["Duration", <span key="d" className="tabular-nums">{formatMs(span.durationMs)}</span>],
            ["Span id", <code key="i" className="font-mono text-xs">{span.spanId}</code>],
          ]}
        />
        {attributes.length > 0 && (
          <div>
            <h3 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-500">Attributes</h3>
            <dl className="divide-y divide-slate-100 rounded-md border border-slate-200 text-xs">
              {attributes.map(([key, value]) => (
                <div key={key} className="grid gap-1 px-2 py-1.5 sm:grid-cols-[minmax(0,14rem)_1fr] sm:gap-3">
                  <dt className="break-all font-mono text-slate-600">{key}</dt>
                  <dd className="min-w-0 break-all font-mono text-slate-900">
                    {Array.isArray(value) ? (
                      <ul>
                        {value.map((v, i) => (
                          <li key={i}>{String(v)}</li>
                        ))}
                      </ul>
                    ) : (
                      attributeText(value)
                    )}
                  </dd>
                </div>
              ))}
            </dl>
          </div>
        )}
        {span.events.length > 0 && (
          <div>
            <h3 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-500">Events</h3>
            <ul className="text-sm">
              {span.events.map((e, i) => (
                <li key={i} className="tabular-nums">
                  <span className="font-mono text-xs">{e.name}</span> at +{formatMs(atMs - span.startMs + e.atMs)}
                  {Object.keys(e.attributes).length > 0 && <span className="block break-all font-mono text-xs text-slate-500">{Object.entries(e.attributes).map(([k, v]) => `${k}=${attributeText(v)}`).join(" ")}</span>}
                </li>
              ))}
            </ul>
          </div>
        )}
      </div>
    </Card>
  );
}

function RequestDetails({ request }: { request: TraceRequest }) {
  const org = useCurrentOrg();
  return (
    <Card title="Request">
      <Facts
        items={[
          ["Received", formatTime(request.startedAt)],
          ["Endpoint", <code key="e" className="font-mono text-xs">{request.endpoint}{request.stream ? " (streamed)" : ""}</code>],
          ["Model asked", request.model ?? "—"],
          [
            "Deployment",
            request.deployment ? (
              request.deployment.deleted || !request.deployment.name ? (
                <span key="d" className="font-mono text-xs">{request.deployment.name ?? request.deployment.id} (deleted)</span>
              ) : (
                <Link key="d" href={`/o/${org.slug}/deployments/${request.deployment.id}`} className="font-medium text-brand-700 underline-offset-2 hover:underline">
                  {request.deployment.name}
                </Link>
              )
            ) : (
              "none (refused before routing)"
            ),
          ],
          [
            "Region",
            request.region ? (
              <Link key="r" href={`/o/${org.slug}/regions${request.region.code ? `#region-${request.region.code}` : ""}`} className="font-medium text-brand-700 underline-offset-2 hover:underline">
                {request.region.name ?? request.region.code ?? request.region.id}
              </Link>
            ) : (
              "—"
            ),
          ],
          [
            "API key",
            request.apiKey ? (
              request.apiKey.deleted ? (
                <span key="k" className="font-mono text-xs">{request.apiKey.id} (no longer exists)</span>
              ) : (
                <Link key="k" href={`/o/${org.slug}/api-keys`} className="text-brand-700 underline-offset-2 hover:underline">
                  {request.apiKey.name} <code className="font-mono text-xs">enc_{request.apiKey.prefix}_…</code>
                </Link>
              )
            ) : (
              "none (refused before authentication)"
            ),
          ],
          ["Data class", request.dataClass ?? "—"],
          ["Request id", <code key="q" className="break-all font-mono text-xs">{request.requestId}</code>],
          ["Caller's span", request.parentSpanId ? <code key="p" className="font-mono text-xs">{request.parentSpanId}</code> : "none: the gateway started this trace"],
          ["Usage record", <code key="u" className="break-all font-mono text-xs">{request.recordId}</code>],
        ]}
      />
    </Card>
  );
}

function Residency({ request }: { request: TraceRequest }) {
  const r = request.residency;
  return (
    <Card title="Residency decision">
      {r ? (
        <div className="space-y-2 text-sm" data-testid="residency">
          <p>
            <Badge tone={r.verdict === "allowed" ? "good" : r.verdict === "refused" ? "bad" : "neutral"}>{r.verdict ?? "unknown"}</Badge>
            {r.dataClass && <span className="ml-2 text-slate-600">for {r.dataClass.toLowerCase()} data</span>}
          </p>
          {r.reasons.length > 0 ? (
            <ul className="list-disc space-y-1 pl-5">
              {r.reasons.map((reason, i) => (
                <li key={i}>{reason}</li>
              ))}
            </ul>
          ) : r.verdict === "allowed" ? (
            <p className="text-slate-700">
              {r.policy === "none"
                ? `Your organisation has no residency policy${r.dataClass ? ` for ${r.dataClass.toLowerCase()} data` : ""}: every region is allowed.`
                : `The region${request.region?.name ? ` ${request.region.name}` : ""} meets every rule of your residency policy${r.dataClass ? ` for ${r.dataClass.toLowerCase()} data` : ""}.`}
            </p>
          ) : (
            <p className="text-slate-600">No reason was recorded.</p>
          )}
        </div>
      ) : (
        <p className="text-sm text-slate-600">The request ended before the residency check (for instance, it was not authenticated).</p>
      )}
    </Card>
  );
}

function Artifact({ request }: { request: TraceRequest }) {
  const a = request.artifact;
  return (
    <Card title="Model artifact">
      {a ? (
        <div className="space-y-3 text-sm" data-testid="artifact">
          {a.uri && (
            <div>
              <p className="text-xs font-medium text-slate-500">URI</p>
              <code className="block break-all font-mono text-xs">{a.uri}</code>
            </div>
          )}
          <div>
            <p className="text-xs font-medium text-slate-500">SHA-256</p>
            {a.sha256 ? (
              <div className="flex items-start gap-2">
                <code className="min-w-0 break-all font-mono text-xs" data-testid="artifact-sha256">{a.sha256}</code>
                <CopyButton text={a.sha256} label="Copy the artifact digest" className="px-2 py-1 text-xs" />
              </div>
            ) : (
              <p className="text-slate-600">Not recorded (the artifact was not verified).</p>
            )}
          </div>
        </div>
      ) : (
        <p className="text-sm text-slate-600">No model answered this request: it ended before routing.</p>
      )}
    </Card>
  );
}

function Content({ content }: { content: NonNullable<TraceRequest["content"]> }) {
  return (
    <Card title="Stored content">
      <p className="mb-3 text-xs text-slate-500">This key captures content: the prompt and completion of its requests are kept with their traces.</p>
      <div className="grid gap-4 lg:grid-cols-2" data-testid="trace-content">
        <div>
          <h3 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-500">Request</h3>
          <pre className="max-h-96 overflow-auto whitespace-pre-wrap break-words rounded-md bg-slate-50 p-3 font-mono text-xs">{JSON.stringify(content.request, null, 2)}</pre>
        </div>
        <div>
          <h3 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-500">Completion</h3>
          <pre className="max-h-96 overflow-auto whitespace-pre-wrap break-words rounded-md bg-slate-50 p-3 font-mono text-xs">{content.completion ?? "(none)"}</pre>
        </div>
      </div>
    </Card>
  );
}
