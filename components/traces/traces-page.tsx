"use client";
import Link from "next/link";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useMemo, useState, type FormEvent } from "react";
import { formatNumber } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { Badge, PageHeader, Table, Td } from "../ui/layout";
import { EmptyState, ErrorState, LoadingState } from "../ui/states";
import { DEFAULT_PERIOD, formatCost, formatMs, formatTime, PERIODS, STATUS_FILTERS, statusLabel, statusTone, TRACE_ID_PATTERN, type Period } from "./format";

type TraceItem = RouterOutputs["traces"]["list"]["items"][number];

const PAGE_SIZE = 50;
const selectClass = "block w-full rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm shadow-sm focus:border-brand-500 focus:outline-none focus:ring-1 focus:ring-brand-500";

/** The filters as the URL holds them (?deployment=…&key=…&status=…&period=…&trace=…), so a filtered view can be shared. */
function useFilters() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const periodParam = params.get("period");
  const filters = {
    deployment: params.get("deployment") ?? "",
    key: params.get("key") ?? "",
    status: params.get("status") ?? "",
    period: (PERIODS.some((p) => p.value === periodParam) ? periodParam : DEFAULT_PERIOD) as Period,
    trace: params.get("trace") ?? "",
  };
  const set = (changes: Partial<typeof filters>) => {
    const next = new URLSearchParams(params.toString());
    for (const [name, value] of Object.entries(changes)) {
      if (value && !(name === "period" && value === DEFAULT_PERIOD)) next.set(name, value);
      else next.delete(name);
    }
    const qs = next.toString();
    router.replace(qs ? `${pathname}?${qs}` : pathname, { scroll: false });
  };
  return { filters, set };
}

export function TracesPage() {
  const org = useCurrentOrg();
  const { filters, set } = useFilters();
  // The period's start is fixed when the period is chosen (or on refresh), so the query stays the same while reading.
  const [refreshedAt, setRefreshedAt] = useState(() => Date.now());
  const from = useMemo(() => new Date(refreshedAt - PERIODS.find((p) => p.value === filters.period)!.ms).toISOString(), [filters.period, refreshedAt]);
  const traceValid = filters.trace === "" || TRACE_ID_PATTERN.test(filters.trace);

  const deployments = api.deployments.list.useQuery({ orgId: org.id, limit: 200 });
  const keys = api.apiKeys.list.useQuery({ orgId: org.id, limit: 200 });
  const traces = api.traces.list.useInfiniteQuery(
    {
      orgId: org.id,
      limit: PAGE_SIZE,
      from,
      ...(filters.deployment ? { deploymentId: filters.deployment } : {}),
      ...(filters.key ? { apiKeyId: filters.key } : {}),
      ...(filters.status ? { status: filters.status } : {}),
      ...(filters.trace && traceValid ? { traceId: filters.trace } : {}),
    },
    { getNextPageParam: (last) => last.nextCursor ?? undefined, enabled: traceValid },
  );
  const items = traces.data?.pages.flatMap((p) => p.items) ?? [];
  const filtered = Boolean(filters.deployment || filters.key || filters.status || filters.trace);

  return (
    <>
      <PageHeader
        title="Traces"
        description="Every request your programs sent through the gateway: who called, which deployment answered, how fast, and why it was allowed. Open one to see its steps on a time line."
        actions={
          <Button variant="secondary" onClick={() => setRefreshedAt(Date.now())} loading={traces.isRefetching && !traces.isFetchingNextPage}>
            Refresh
          </Button>
        }
      />
      <Filters
        key={filters.trace}
        filters={filters}
        set={set}
        traceValid={traceValid}
        deployments={deployments.data?.items.map((d) => ({ id: d.id, name: d.name })) ?? []}
        keys={keys.data?.items.map((k) => ({ id: k.id, name: k.name })) ?? []}
      />
      <div className="mt-4">
        {!traceValid ? null : traces.isLoading ? (
          <LoadingState label="Loading traces…" rows={5} />
        ) : traces.error ? (
          <ErrorState error={traces.error} onRetry={() => traces.refetch()} />
        ) : items.length === 0 ? (
          filtered ? (
            <EmptyState title="No request matches these filters" action={<Button variant="secondary" onClick={() => set({ deployment: "", key: "", status: "", trace: "" })}>Clear filters</Button>}>
              Try a longer period, or another deployment, key or status.
            </EmptyState>
          ) : (
            <EmptyState title={`No requests in the ${PERIODS.find((p) => p.value === filters.period)!.label.toLowerCase()}`}>
              Each call to a deployment through the gateway, with an API key, appears here within seconds.
            </EmptyState>
          )
        ) : (
          <>
            <TraceTable items={items} />
            <div className="mt-3 flex items-center justify-between gap-3 text-sm text-slate-600">
              <span role="status">
                {formatNumber(items.length)} request{items.length === 1 ? "" : "s"} shown{traces.hasNextPage ? ", more available" : ""}
              </span>
              {traces.hasNextPage && (
                <Button variant="secondary" onClick={() => traces.fetchNextPage()} loading={traces.isFetchingNextPage}>
                  Show older requests
                </Button>
              )}
            </div>
          </>
        )}
      </div>
    </>
  );
}

function Filters({
  filters,
  set,
  traceValid,
  deployments,
  keys,
}: {
  filters: ReturnType<typeof useFilters>["filters"];
  set: ReturnType<typeof useFilters>["set"];
  traceValid: boolean;
  deployments: { id: string; name: string }[];
  keys: { id: string; name: string }[];
}) {
  const [trace, setTrace] = useState(filters.trace);
  function onSearch(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    // A trace id pasted from a traceparent header or in capitals still finds its trace.
    const value = trace.trim().toLowerCase();
    const fromTraceparent = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(value)?.[1];
    set({ trace: fromTraceparent ?? value });
  }
  return (
    <div className="grid gap-3 rounded-lg border border-slate-200 bg-white p-3 shadow-sm sm:grid-cols-2 lg:grid-cols-5" role="search" aria-label="Filter traces">
      <label className="block text-xs font-medium text-slate-600">
        Period
        <select className={`${selectClass} mt-1`} value={filters.period} onChange={(e) => set({ period: e.target.value as Period })}>
          {PERIODS.map((p) => (
            <option key={p.value} value={p.value}>
              {p.label}
            </option>
          ))}
        </select>
      </label>
      <label className="block text-xs font-medium text-slate-600">
        Deployment
        <select className={`${selectClass} mt-1`} value={filters.deployment} onChange={(e) => set({ deployment: e.target.value })}>
          <option value="">All deployments</option>
          {deployments.map((d) => (
            <option key={d.id} value={d.id}>
              {d.name}
            </option>
          ))}
          {filters.deployment && !deployments.some((d) => d.id === filters.deployment) && <option value={filters.deployment}>{filters.deployment}</option>}
        </select>
      </label>
      <label className="block text-xs font-medium text-slate-600">
        API key
        <select className={`${selectClass} mt-1`} value={filters.key} onChange={(e) => set({ key: e.target.value })}>
          <option value="">All keys</option>
          {keys.map((k) => (
            <option key={k.id} value={k.id}>
              {k.name}
            </option>
          ))}
          {filters.key && !keys.some((k) => k.id === filters.key) && <option value={filters.key}>{filters.key}</option>}
        </select>
      </label>
      <label className="block text-xs font-medium text-slate-600">
        Status
        <select className={`${selectClass} mt-1`} value={filters.status} onChange={(e) => set({ status: e.target.value })}>
          {STATUS_FILTERS.map((s) => (
            <option key={s.value} value={s.value}>
              {s.label}
            </option>
          ))}
        </select>
      </label>
      <form onSubmit={onSearch} className="block text-xs font-medium text-slate-600">
        <label htmlFor="trace-search">Trace id</label>
        <div className="mt-1 flex gap-1">
          <input
            id="trace-search"
            name="trace"
            value={trace}
            onChange={(e) => setTrace(e.target.value)}
            placeholder="32 hex digits or a traceparent"
            autoComplete="off"
            spellCheck={false}
            aria-invalid={!traceValid || undefined}
            aria-describedby={!traceValid ? "trace-search-error" : undefined}
            className={`${selectClass} min-w-0 font-mono`}
          />
          <Button type="submit" variant="secondary" className="px-2 py-1.5">
            Find
          </Button>
        </div>
        {!traceValid && (
          <p id="trace-search-error" role="alert" className="mt-1 font-medium text-red-700">
            A trace id is 32 hexadecimal digits (0–9, a–f).
          </p>
        )}
      </form>
    </div>
  );
}

function TraceTable({ items }: { items: TraceItem[] }) {
  const org = useCurrentOrg();
  return (
    <Table head={["Time", "Model · deployment", "Key", "Status", "Latency", "TTFT", "Tokens in → out", "Cost", "Trace"]} caption="Traced requests, newest first">
      {items.map((t) => (
        <tr key={t.spanId} data-testid="trace-row">
          <Td className="tabular-nums">{formatTime(t.startedAt)}</Td>
          <Td>
            <span className="font-medium">{t.model ?? "—"}</span>
            {t.deployment && (
              <span className="block text-xs text-slate-500">
                {t.deployment.deleted || !t.deployment.name ? (
                  <span className="font-mono">{t.deployment.name ?? t.deployment.id} (deleted)</span>
                ) : (
                  <Link href={`/o/${org.slug}/deployments/${t.deployment.id}`} className="font-mono underline-offset-2 hover:underline">
                    {t.deployment.name}
                  </Link>
                )}
              </span>
            )}
          </Td>
          <Td>{t.apiKey ? <span>{t.apiKey.name ?? <span className="font-mono text-xs">{t.apiKey.id} (deleted)</span>}</span> : <span className="text-slate-500">none</span>}</Td>
          <Td>
            <Badge tone={statusTone(t.status)}>
              {t.status} {statusLabel(t.status)}
            </Badge>
            {t.errorCode && <span className="block font-mono text-xs text-slate-500">{t.errorCode}</span>}
          </Td>
          <Td className="tabular-nums">{formatMs(t.durationMs)}</Td>
          <Td className="tabular-nums">{formatMs(t.ttftMs)}</Td>
          <Td className="tabular-nums">
            {formatNumber(t.tokensIn)} → {formatNumber(t.tokensOut)}
          </Td>
          <Td className="tabular-nums">{formatCost(t.costEur)}</Td>
          <Td>
            <Link href={`/o/${org.slug}/traces/${t.traceId}`} className="font-mono text-xs font-medium text-brand-700 underline-offset-2 hover:underline" aria-label={`Open trace ${t.traceId}`}>
              {t.traceId.slice(0, 12)}…
            </Link>
            {t.hasContent && <span className="block text-xs text-slate-500">with content</span>}
          </Td>
        </tr>
      ))}
    </Table>
  );
}
