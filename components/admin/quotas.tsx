"use client";
import { useId, useState, type FormEvent, type KeyboardEvent } from "react";
import { toast } from "sonner";
import { formatDateTime, formatNumber } from "../format";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { Dialog, DialogActions } from "../ui/dialog";
import { useSearchParamText } from "../ui/url-state";
import { Textarea } from "../ui/fields";
import { Field, Input, Select } from "../ui/form";
import { Badge, PageHeader, Table, Td } from "../ui/layout";
import { EmptyState, QueryView } from "../ui/states";
import { FormError, formErrors, parseWholeNumber, UsageBar } from "./shared";

type QuotaRequest = RouterOutputs["admin"]["quotaRequests"]["items"][number];
type Quota = RouterOutputs["admin"]["quotas"]["items"][number];
type AdminRegion = RouterOutputs["admin"]["regions"][number];
/** A region × GPU type's hardware, and how much of it quotas already promise (which may exceed it). */
type Capacity = { totalGpus: number; allocatedGpus: number; freeGpus: number; quotaLimitGpus: number };
type CapacityLookup = (regionId: string, gpuTypeId: string) => Capacity | undefined;

function capacityLookup(regions: AdminRegion[] | undefined, quotas: Quota[] | undefined): CapacityLookup {
  const promised = new Map<string, number>();
  for (const q of quotas ?? []) promised.set(`${q.region.id}/${q.gpuType.id}`, (promised.get(`${q.region.id}/${q.gpuType.id}`) ?? 0) + q.limitGpus);
  const byKey = new Map(
    (regions ?? []).flatMap((r) =>
      r.capacities.map((c) => {
        const key = `${r.id}/${c.gpuType.id}`;
        const capacity: Capacity = { totalGpus: c.totalGpus, allocatedGpus: c.allocatedGpus, freeGpus: Math.max(0, c.totalGpus - c.allocatedGpus), quotaLimitGpus: promised.get(key) ?? 0 };
        return [key, capacity] as const;
      }),
    ),
  );
  return (regionId, gpuTypeId) => byKey.get(`${regionId}/${gpuTypeId}`);
}
type Decision = "approve" | "partial" | "reject";

const REGION_STATUS_LABELS = { ACTIVE: "Active", MAINTENANCE: "Maintenance", DRAINING: "Draining", RETIRED: "Retired" } as const;

const REQUEST_STATUS = {
  PENDING: { label: "Pending", tone: "info" },
  APPROVED: { label: "Approved", tone: "good" },
  PARTIALLY_APPROVED: { label: "Partly approved", tone: "warn" },
  REJECTED: { label: "Rejected", tone: "bad" },
  CANCELLED: { label: "Cancelled", tone: "neutral" },
} as const satisfies Record<QuotaRequest["status"], { label: string; tone: string }>;

export function AdminQuotasPage() {
  const requests = api.admin.quotaRequests.useQuery({ limit: 200 });
  const quotas = api.admin.quotas.useQuery({ limit: 200 });
  const regions = api.admin.regions.useQuery();
  const [creating, setCreating] = useState(false);
  const capacityOf = capacityLookup(regions.data, quotas.data?.items);
  return (
    <>
      <PageHeader title="Quotas & requests" description="Decide tenants' requests for more GPUs, and set each organisation's GPU limit per region and GPU type." />
      <div className="space-y-8">
        <section aria-labelledby="pending-heading" className="space-y-3">
          <h2 id="pending-heading" className="text-lg font-semibold">
            Pending requests
          </h2>
          <QueryView query={requests}>
            {({ items: list }) => {
              const pending = list.filter((r) => r.status === "PENDING");
              const decided = list.filter((r) => r.status !== "PENDING");
              return (
                <>
                  {pending.length === 0 ? (
                    <EmptyState title="No requests waiting">Tenants&apos; requests for more GPUs appear here until you decide them.</EmptyState>
                  ) : (
                    <PendingQueue requests={pending} capacityOf={capacityOf} />
                  )}
                  {decided.length > 0 && <DecidedRequests requests={decided} />}
                </>
              );
            }}
          </QueryView>
        </section>

        <section aria-labelledby="quotas-heading" className="space-y-3">
          <div className="flex flex-col gap-2 sm:flex-row sm:items-center sm:justify-between">
            <h2 id="quotas-heading" className="text-lg font-semibold">
              Quotas across tenants
            </h2>
            <Button onClick={() => setCreating(true)}>New quota</Button>
          </div>
          <QueryView query={quotas}>
            {({ items: list }) =>
              list.length === 0 ? (
                <EmptyState title="No quotas yet">
                  An organisation can deploy only where it has a GPU quota. Grant one here, or approve a request above.
                </EmptyState>
              ) : (
                <QuotaTable quotas={list} />
              )
            }
          </QueryView>
        </section>
      </div>
      {creating && <NewQuotaDialog quotas={quotas.data?.items ?? []} capacityOf={capacityOf} onClose={() => setCreating(false)} />}
    </>
  );
}

function useInvalidateCapacity() {
  const utils = api.useUtils();
  return () => Promise.all([utils.admin.quotaRequests.invalidate(), utils.admin.quotas.invalidate(), utils.admin.organizations.invalidate()]);
}

/** Oldest first, one card per request; only one decision form is open at a time. */
function PendingQueue({ requests, capacityOf }: { requests: QuotaRequest[]; capacityOf: CapacityLookup }) {
  const [deciding, setDeciding] = useState<{ requestId: string; decision: Decision } | null>(null);
  return (
    <ul className="grid gap-3 lg:grid-cols-2">
      {requests.map((r) => (
        <li key={r.id}>
          <RequestCard
            request={r}
            capacity={capacityOf(r.region.id, r.gpuType.id)}
            decision={deciding?.requestId === r.id ? deciding.decision : null}
            onDecide={(decision) => {
              if (decision) return setDeciding({ requestId: r.id, decision });
              const closed = deciding?.decision;
              setDeciding(null);
              // Back to the button that opened the form (it is rendered again once the form is gone).
              if (closed) requestAnimationFrame(() => document.getElementById(decisionButtonId(r.id, closed))?.focus());
            }}
          />
        </li>
      ))}
    </ul>
  );
}

const decisionButtonId = (requestId: string, decision: Decision) => `decide-${decision}-${requestId}`;

function RequestCard({
  request: r,
  capacity,
  decision,
  onDecide,
}: {
  request: QuotaRequest;
  capacity: Capacity | undefined;
  decision: Decision | null;
  onDecide: (d: Decision | null) => void;
}) {
  const titleId = useId();
  const current = { limitGpus: r.currentLimitGpus, allocatedGpus: r.currentAllocatedGpus };
  return (
    <article aria-labelledby={titleId} className="h-full rounded-lg border border-slate-200 bg-white p-4 shadow-sm">
      <h3 id={titleId} className="font-semibold">
        {r.org.name}: +{formatNumber(r.additionalGpus)} {r.gpuType.code} in {r.region.code}
      </h3>
      <dl className="mt-2 grid grid-cols-[auto_minmax(0,1fr)] gap-x-3 gap-y-1 break-words text-sm">
        <dt className="text-slate-500">Organisation</dt>
        <dd>
          {r.org.name} <span className="font-mono text-xs text-slate-500">{r.org.slug}</span>
          {r.org.status === "SUSPENDED" && (
            <span className="ml-1">
              <Badge tone="bad">Suspended</Badge>
            </span>
          )}
        </dd>
        <dt className="text-slate-500">Region</dt>
        <dd>
          {r.region.name} <span className="font-mono text-xs text-slate-500">{r.region.code}</span>
          {r.region.status !== "ACTIVE" && (
            <span className="ml-1">
              <Badge tone={r.region.status === "RETIRED" ? "bad" : "warn"}>{REGION_STATUS_LABELS[r.region.status]}</Badge>
            </span>
          )}
        </dd>
        <dt className="text-slate-500">GPU type</dt>
        <dd>{r.gpuType.name}</dd>
        <dt className="text-slate-500">Requested</dt>
        <dd className="font-medium tabular-nums">{formatNumber(r.additionalGpus)} more GPU{r.additionalGpus === 1 ? "" : "s"}</dd>
        <dt className="text-slate-500">Current</dt>
        <dd className="tabular-nums">
          {current.limitGpus === 0 ? "No quota yet" : `${formatNumber(current.allocatedGpus)} allocated of a ${formatNumber(current.limitGpus)}-GPU limit`}
          <span className="block text-xs text-slate-500">Approving all raises the limit to {formatNumber(current.limitGpus + r.additionalGpus)}.</span>
        </dd>
        <dt className="text-slate-500">Region capacity</dt>
        <dd className="tabular-nums">
          {capacity ? (
            <>
              {formatNumber(capacity.freeGpus)} free of {formatNumber(capacity.totalGpus)} {r.gpuType.code}
              <span className="block text-xs text-slate-500">{formatNumber(capacity.quotaLimitGpus)} already promised in quotas</span>
            </>
          ) : (
            <span className="text-slate-500">no {r.gpuType.code} capacity listed</span>
          )}
        </dd>
        <dt className="text-slate-500">Requested by</dt>
        <dd>
          {r.requestedBy.name} <span className="text-slate-500">({r.requestedBy.email})</span>,{" "}
          <time dateTime={new Date(r.createdAt).toISOString()}>{formatDateTime(r.createdAt)}</time>
        </dd>
      </dl>
      <blockquote className="mt-3 whitespace-pre-line border-l-2 border-slate-200 pl-3 text-sm text-slate-700">{r.justification}</blockquote>
      {decision ? (
        <DecisionForm request={r} decision={decision} current={current} onChange={onDecide} />
      ) : (
        <div className="mt-4 flex flex-wrap gap-2">
          <Button id={decisionButtonId(r.id, "approve")} onClick={() => onDecide("approve")}>
            Approve
          </Button>
          <Button
            id={decisionButtonId(r.id, "partial")}
            variant="secondary"
            onClick={() => onDecide("partial")}
            disabled={r.additionalGpus < 2}
            title={r.additionalGpus < 2 ? "Only one GPU was requested: approve or reject it." : undefined}
          >
            Approve part
          </Button>
          <Button id={decisionButtonId(r.id, "reject")} variant="danger" onClick={() => onDecide("reject")}>
            Reject
          </Button>
        </div>
      )}
    </article>
  );
}

const DECISION_TEXT: Record<Decision, string> = {
  approve: "Approve the whole request",
  partial: "Approve part of the request",
  reject: "Reject the request",
};

function DecisionForm({
  request: r,
  decision,
  current,
  onChange,
}: {
  request: QuotaRequest;
  decision: Decision;
  current: { limitGpus: number; allocatedGpus: number };
  onChange: (d: Decision | null) => void;
}) {
  const invalidate = useInvalidateCapacity();
  const [approved, setApproved] = useState(() => String(Math.max(1, Math.floor(r.additionalGpus / 2))));
  const [note, setNote] = useState("");
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});
  const decide = api.admin.decideQuotaRequest.useMutation({
    onSuccess: async (_data, input) => {
      const what =
        input.decision === "reject"
          ? `Request from ${r.org.name} rejected`
          : input.decision === "partial"
            ? `${input.approvedGpus} of ${r.additionalGpus} GPUs approved for ${r.org.name}`
            : `${r.additionalGpus} GPUs approved for ${r.org.name}`;
      toast.success(what);
      onChange(null);
      await invalidate();
    },
    onError: (e) => toast.error(e.message),
  });
  const err = formErrors(decide.error, localErrors);
  const approvedId = `approve-${r.id}`;
  const noteId = `note-${r.id}`;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const problems: Record<string, string> = {};
    const approvedGpus = parseWholeNumber(approved);
    if (decision === "partial" && (approvedGpus === null || approvedGpus < 1 || approvedGpus >= r.additionalGpus)) {
      problems.approvedGpus = `Enter a number from 1 to ${r.additionalGpus - 1}; to approve all ${r.additionalGpus}, use Approve.`;
    }
    if (decision === "reject" && !note.trim()) problems.note = "Tell the tenant why, so they know what to change.";
    setLocalErrors(problems);
    if (Object.keys(problems).length > 0) return;
    decide.mutate({
      requestId: r.id,
      decision,
      approvedGpus: decision === "partial" ? (approvedGpus ?? undefined) : undefined,
      note: note.trim() || undefined,
    });
  };
  const approvedNumber = parseWholeNumber(approved);

  return (
    <form
      onSubmit={submit}
      noValidate
      aria-label={DECISION_TEXT[decision]}
      onKeyDown={(e: KeyboardEvent) => {
        if (e.key === "Escape") onChange(null);
      }}
      className="mt-4 space-y-3 rounded-md border border-slate-200 bg-slate-50 p-3"
    >
      <p className="text-sm font-medium">{DECISION_TEXT[decision]}</p>
      {decision === "approve" && (
        <p className="text-sm text-slate-700">
          {r.org.name} gets {formatNumber(r.additionalGpus)} more {r.gpuType.code} in {r.region.code}
          {" "}(limit {formatNumber(current.limitGpus)} → {formatNumber(current.limitGpus + r.additionalGpus)}).
        </p>
      )}
      {decision === "partial" && (
        <Field
          label="GPUs to approve"
          name={approvedId}
          error={err("approvedGpus")}
          hint={`1 to ${r.additionalGpus - 1}${approvedNumber !== null ? `; the limit becomes ${formatNumber(current.limitGpus + approvedNumber)}` : ""}`}
        >
          <Input
            name={approvedId}
            type="number"
            min={1}
            max={r.additionalGpus - 1}
            step={1}
            inputMode="numeric"
            value={approved}
            onChange={(e) => setApproved(e.target.value)}
            autoFocus
            invalid={!!err("approvedGpus")}
          />
        </Field>
      )}
      <Field
        label="Note to the tenant"
        name={noteId}
        error={err("note")}
        hint={decision === "reject" ? "Required: say why, and what would make a new request succeed." : "Optional; shown to the organisation with your decision."}
      >
        <Textarea name={noteId} value={note} onChange={(e) => setNote(e.target.value)} required={decision === "reject"} maxLength={1000} autoFocus={decision !== "partial"} invalid={!!err("note")} />
      </Field>
      <FormError error={decide.error} hidden={err.shownAny()} />
      <div className="flex flex-col-reverse gap-2 sm:flex-row sm:justify-end">
        <Button type="button" variant="secondary" onClick={() => onChange(null)}>
          Cancel
        </Button>
        <Button type="submit" variant={decision === "reject" ? "danger" : "primary"} loading={decide.isPending}>
          Confirm decision
        </Button>
      </div>
    </form>
  );
}

function DecidedRequests({ requests }: { requests: QuotaRequest[] }) {
  return (
    <details className="group rounded-lg border border-slate-200 bg-white shadow-sm">
      <summary className="cursor-pointer select-none px-4 py-3 text-sm font-medium text-slate-700">Decided requests ({requests.length})</summary>
      <div className="border-t border-slate-200 p-2 sm:p-3">
        <Table caption="Decided requests" head={["Requested", "Organisation", "Region", "GPU type", "Asked", "Approved", "Decision", "Decided", "Note"]}>
          {[...requests]
            .sort((a, b) => new Date(b.decidedAt ?? b.createdAt).getTime() - new Date(a.decidedAt ?? a.createdAt).getTime())
            .map((r) => (
              <tr key={r.id}>
                <Td>{formatDateTime(r.createdAt)}</Td>
                <Td>{r.org.name}</Td>
                <Td className="font-mono text-xs">{r.region.code}</Td>
                <Td>{r.gpuType.code}</Td>
                <Td className="tabular-nums">{formatNumber(r.additionalGpus)}</Td>
                <Td className="tabular-nums">{r.approvedGpus == null ? "—" : formatNumber(r.approvedGpus)}</Td>
                <Td>
                  <Badge tone={REQUEST_STATUS[r.status].tone}>{REQUEST_STATUS[r.status].label}</Badge>
                </Td>
                <Td>
                  {r.decidedAt ? formatDateTime(r.decidedAt) : "—"}
                  {r.decidedBy && <p className="text-xs text-slate-500">by {r.decidedBy.name}</p>}
                </Td>
                <Td className="min-w-[12rem] whitespace-normal text-slate-700">{r.decisionNote ?? <span className="text-slate-400">—</span>}</Td>
              </tr>
            ))}
        </Table>
      </div>
    </details>
  );
}

function QuotaTable({ quotas }: { quotas: Quota[] }) {
  // In the URL, so a filtered list can be reloaded and shared.
  const [filter, setFilter] = useSearchParamText("q");
  const [editing, setEditing] = useState<string | null>(null);
  const needle = filter.trim().toLowerCase();
  const shown = needle
    ? quotas.filter((q) => [q.org.name, q.org.slug, q.region.code, q.region.name, q.gpuType.code, q.gpuType.name].some((s) => s.toLowerCase().includes(needle)))
    : quotas;
  return (
    <div className="space-y-3">
      <div className="max-w-sm">
        <Field label="Filter quotas" name="quota-filter" hint="By organisation, region or GPU type">
          <Input name="quota-filter" type="search" value={filter} onChange={(e) => setFilter(e.target.value)} autoComplete="off" />
        </Field>
      </div>
      {shown.length === 0 ? (
        <EmptyState title="No quota matches this filter" />
      ) : (
        <Table caption="Quotas" head={["Organisation", "Region", "GPU type", "Allocated / limit", <span key="a" className="sr-only">Actions</span>]}>
          {shown.map((q) => (
            <tr key={q.id}>
              <Td>
                <p className="font-medium">{q.org.name}</p>
                <p className="font-mono text-xs text-slate-500">{q.org.slug}</p>
                {q.org.status === "SUSPENDED" && <Badge tone="bad">Suspended</Badge>}
              </Td>
              <Td>
                <p className="font-mono text-xs">{q.region.code}</p>
                <p className="text-slate-600">{q.region.name}</p>
                {q.region.status !== "ACTIVE" && <Badge tone={q.region.status === "RETIRED" ? "bad" : "warn"}>{REGION_STATUS_LABELS[q.region.status]}</Badge>}
              </Td>
              <Td>{q.gpuType.code}</Td>
              <Td>
                <p className="tabular-nums">
                  {formatNumber(q.allocatedGpus)} / {formatNumber(q.limitGpus)}
                </p>
                <UsageBar used={q.allocatedGpus} total={q.limitGpus} />
              </Td>
              <Td>
                {editing === q.id ? (
                  <SetLimitForm
                    quota={q}
                    onDone={() => {
                      setEditing(null);
                      requestAnimationFrame(() => document.getElementById(`set-limit-${q.id}`)?.focus());
                    }}
                  />
                ) : (
                  <Button id={`set-limit-${q.id}`} variant="secondary" aria-label={`Set limit for ${q.org.name} in ${q.region.code}, ${q.gpuType.code}`} onClick={() => setEditing(q.id)}>
                    Set limit
                  </Button>
                )}
              </Td>
            </tr>
          ))}
        </Table>
      )}
    </div>
  );
}

function SetLimitForm({ quota: q, onDone }: { quota: Quota; onDone: () => void }) {
  const invalidate = useInvalidateCapacity();
  const [value, setValue] = useState(String(q.limitGpus));
  const [localError, setLocalError] = useState<string | null>(null);
  const setQuota = api.admin.setQuota.useMutation({
    onSuccess: async (_data, input) => {
      toast.success(`${q.org.name}: limit for ${q.gpuType.code} in ${q.region.code} is now ${input.limitGpus}`);
      onDone();
      await invalidate();
    },
    onError: (e) => toast.error(e.message),
  });
  const name = `limit-${q.id}`;
  const error = localError ?? formErrors(setQuota.error)("limitGpus") ?? setQuota.error?.message;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const limitGpus = parseWholeNumber(value);
    if (limitGpus === null) return setLocalError("Enter a whole number of GPUs");
    setLocalError(null);
    setQuota.mutate({ orgId: q.org.id, regionId: q.region.id, gpuTypeId: q.gpuType.id, limitGpus });
  };
  return (
    <form
      onSubmit={submit}
      noValidate
      onKeyDown={(e) => {
        if (e.key === "Escape") onDone();
      }}
      className="w-56 space-y-2 whitespace-normal"
    >
      <Field label="New limit" name={name} error={error} hint={`${q.allocatedGpus} allocated now`}>
        <Input name={name} type="number" min={0} step={1} inputMode="numeric" value={value} onChange={(e) => setValue(e.target.value)} autoFocus invalid={!!error} />
      </Field>
      <div className="flex gap-2">
        <Button type="submit" loading={setQuota.isPending}>
          Save
        </Button>
        <Button type="button" variant="secondary" onClick={onDone}>
          Cancel
        </Button>
      </div>
    </form>
  );
}

function NewQuotaDialog({ quotas, capacityOf, onClose }: { quotas: Quota[]; capacityOf: CapacityLookup; onClose: () => void }) {
  const invalidate = useInvalidateCapacity();
  const organizations = api.admin.organizations.useQuery({ limit: 200 });
  const regions = api.admin.regions.useQuery();
  const [orgId, setOrgId] = useState("");
  const [regionId, setRegionId] = useState("");
  const [gpuTypeId, setGpuTypeId] = useState("");
  const [limit, setLimit] = useState("");
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});
  const setQuota = api.admin.setQuota.useMutation({
    onSuccess: async (_data, input) => {
      const org = organizations.data?.items.find((o) => o.id === input.orgId);
      toast.success(`Quota set${org ? ` for ${org.name}` : ""}: ${input.limitGpus} GPUs`);
      onClose();
      await invalidate();
    },
    onError: (e) => toast.error(e.message),
  });
  const err = formErrors(setQuota.error, localErrors);

  const region = regions.data?.find((r) => r.id === regionId);
  // Only GPU types the region offers: a quota elsewhere could never be used.
  const capacity = gpuTypeId ? capacityOf(regionId, gpuTypeId) : undefined;
  const existing = quotas.find((q) => q.org.id === orgId && q.region.id === regionId && q.gpuType.id === gpuTypeId);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const problems: Record<string, string> = {};
    if (!orgId) problems.orgId = "Choose an organisation";
    if (!regionId) problems.regionId = "Choose a region";
    if (!gpuTypeId) problems.gpuTypeId = "Choose a GPU type";
    const limitGpus = parseWholeNumber(limit);
    if (limitGpus === null) problems.limitGpus = "Enter a whole number of GPUs";
    setLocalErrors(problems);
    if (Object.keys(problems).length > 0 || limitGpus === null) return;
    setQuota.mutate({ orgId, regionId, gpuTypeId, limitGpus });
  };
  const loadError = organizations.error ?? regions.error;

  return (
    <Dialog title="New quota" description="The most GPUs of one type an organisation may reserve in one region." onClose={onClose}>
      <form onSubmit={submit} noValidate className="space-y-4">
        {loadError && <FormError error={loadError} />}
        <Field label="Organisation" name="new-quota-org" error={err("orgId")}>
          <Select name="new-quota-org" value={orgId} onChange={(e) => setOrgId(e.target.value)} invalid={!!err("orgId")}>
            <option value="">{organizations.isLoading ? "Loading…" : "Choose…"}</option>
            {organizations.data?.items.map((o) => (
              <option key={o.id} value={o.id}>
                {o.name} ({o.slug}){o.status === "SUSPENDED" ? " — suspended" : ""}
              </option>
            ))}
          </Select>
        </Field>
        <Field label="Region" name="new-quota-region" error={err("regionId")}>
          <Select
            name="new-quota-region"
            value={regionId}
            onChange={(e) => {
              setRegionId(e.target.value);
              setGpuTypeId("");
            }}
            invalid={!!err("regionId")}
          >
            <option value="">{regions.isLoading ? "Loading…" : "Choose…"}</option>
            {regions.data
              ?.filter((r) => r.status !== "RETIRED")
              .map((r) => (
                <option key={r.id} value={r.id}>
                  {r.code} · {r.name}
                  {r.status !== "ACTIVE" ? ` (${REGION_STATUS_LABELS[r.status].toLowerCase()})` : ""}
                </option>
              ))}
          </Select>
        </Field>
        <Field
          label="GPU type"
          name="new-quota-gpu"
          error={err("gpuTypeId")}
          hint={
            capacity
              ? `${capacity.totalGpus} in the region, ${capacity.freeGpus} free; quotas already promise ${capacity.quotaLimitGpus}.`
              : region && region.capacities.length === 0
                ? "This region has no GPU capacity yet: add some on the Regions page first."
                : undefined
          }
        >
          <Select name="new-quota-gpu" value={gpuTypeId} onChange={(e) => setGpuTypeId(e.target.value)} disabled={!region} invalid={!!err("gpuTypeId")}>
            <option value="">{region ? "Choose…" : "Choose a region first…"}</option>
            {region?.capacities.map((c) => (
              <option key={c.gpuType.id} value={c.gpuType.id}>
                {c.gpuType.code} · {c.gpuType.name}
              </option>
            ))}
          </Select>
        </Field>
        <Field
          label="Limit (GPUs)"
          name="new-quota-limit"
          error={err("limitGpus")}
          hint={existing ? `This organisation already has a limit of ${existing.limitGpus} here (${existing.allocatedGpus} allocated); saving replaces it.` : undefined}
        >
          <Input name="new-quota-limit" type="number" min={0} step={1} inputMode="numeric" value={limit} onChange={(e) => setLimit(e.target.value)} invalid={!!err("limitGpus")} />
        </Field>
        <FormError error={setQuota.error} hidden={err.shownAny()} />
        <DialogActions>
          <Button type="button" variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" loading={setQuota.isPending}>
            Set quota
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
