"use client";
import { useState, type FormEvent } from "react";
import { toast } from "sonner";
import { roleAtLeast } from "@/lib/roles";
import { formatDateTime } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { Field, Input, Select, fieldErrorsOf, toastUnlessInline } from "../ui/form";
import { Badge, Card, PageHeader, Table, Td } from "../ui/layout";
import { EmptyState, QueryView } from "../ui/states";
import { ConfirmDialog } from "../ui/confirm-dialog";

const REQUEST_TONES = { PENDING: "info", APPROVED: "good", PARTIALLY_APPROVED: "warn", REJECTED: "bad", CANCELLED: "neutral" } as const;
const REQUEST_LABELS = { PENDING: "Pending", APPROVED: "Approved", PARTIALLY_APPROVED: "Partly approved", REJECTED: "Rejected", CANCELLED: "Cancelled" } as const;

/** Allocated share of a limit as a bar: people compare bars faster than fractions. */
export function UsageBar({ used, total, label }: { used: number; total: number; label: string }) {
  const pct = total > 0 ? Math.min(100, Math.round((100 * used) / total)) : 0;
  return (
    <div className="flex items-center gap-2">
      <div className="h-2 w-24 overflow-hidden rounded-full bg-slate-200" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={total} aria-valuenow={used}>
        <div className={`h-full ${pct >= 90 ? "bg-red-500" : pct >= 70 ? "bg-amber-500" : "bg-brand-600"}`} style={{ width: `${pct}%` }} />
      </div>
      <span className="tabular-nums text-xs text-slate-600">{used} / {total}</span>
    </div>
  );
}

export function QuotasPage() {
  const org = useCurrentOrg();
  const quotas = api.quotas.list.useQuery({ orgId: org.id }, { refetchInterval: 10_000 });
  const canRequest = roleAtLeast(org.role, "ADMIN");
  return (
    <>
      <PageHeader title="Quotas" description="How many GPUs your organisation may reserve in each region, what is in use, and your requests for more." />
      <QueryView query={quotas}>
        {({ quotas: list, requests }) => (
          <div className="space-y-6">
            {list.length === 0 ? (
              <EmptyState title="No GPU quota yet">Request GPUs in a region below; a platform administrator decides.</EmptyState>
            ) : (
              <Table head={["Region", "GPU type", "Limit", "Allocated", "Free"]} caption="GPU quotas">
                {list.map((q) => (
                  <tr key={q.id}>
                    <Td>
                      <span className="font-medium">{q.region.name}</span> <span className="text-xs text-slate-500">{q.region.code}</span>
                      {q.region.status !== "ACTIVE" && <span className="ml-2"><Badge tone="warn">{q.region.status.toLowerCase()}</Badge></span>}
                    </Td>
                    <Td>{q.gpuType.name}</Td>
                    <Td className="tabular-nums font-medium">{q.limitGpus}</Td>
                    <Td><UsageBar used={q.allocatedGpus} total={q.limitGpus} label={`${q.gpuType.code} allocated in ${q.region.code}`} /></Td>
                    <Td className="tabular-nums">{q.freeGpus}</Td>
                  </tr>
                ))}
              </Table>
            )}
            {canRequest && <RequestQuotaForm />}
            <QuotaRequests requests={requests} canCancel={canRequest} />
          </div>
        )}
      </QueryView>
    </>
  );
}

function RequestQuotaForm() {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const regions = api.regions.list.useQuery();
  const [regionId, setRegionId] = useState("");
  const [gpuTypeId, setGpuTypeId] = useState("");
  const [amount, setAmount] = useState("1");
  const [justification, setJustification] = useState("");
  const request = api.quotas.request.useMutation({
    onSuccess: async () => {
      toast.success("Request sent to the platform administrators");
      setAmount("1");
      setJustification("");
      await utils.quotas.list.invalidate({ orgId: org.id });
    },
    onError: (e) => toastUnlessInline(e, ["regionId", "gpuTypeId", "additionalGpus", "justification"]),
  });
  const errors = fieldErrorsOf(request.error);
  const region = regions.data?.find((r) => r.id === regionId);
  function onSubmit(event: FormEvent) {
    event.preventDefault();
    request.mutate({ orgId: org.id, regionId, gpuTypeId, additionalGpus: Number(amount), justification });
  }
  return (
    <Card title="Request more GPUs">
      <form onSubmit={onSubmit} className="grid gap-3 md:grid-cols-3">
        <Field label="Region" name="regionId" error={errors.regionId?.[0]}>
          <Select name="regionId" value={regionId} onChange={(e) => { setRegionId(e.target.value); setGpuTypeId(""); }} invalid={Boolean(errors.regionId)} required>
            <option value="">Choose a region…</option>
            {regions.data?.filter((r) => r.status === "ACTIVE").map((r) => (
              <option key={r.id} value={r.id}>{r.name} ({r.code})</option>
            ))}
          </Select>
        </Field>
        <Field label="GPU type" name="gpuTypeId" error={errors.gpuTypeId?.[0]}>
          <Select name="gpuTypeId" value={gpuTypeId} onChange={(e) => setGpuTypeId(e.target.value)} invalid={Boolean(errors.gpuTypeId)} required disabled={!region}>
            <option value="">{region ? "Choose a GPU type…" : "Choose a region first"}</option>
            {region?.capacities.map((c) => (
              <option key={c.gpuType.id} value={c.gpuType.id}>{c.gpuType.name}</option>
            ))}
          </Select>
        </Field>
        <Field label="Additional GPUs" name="additionalGpus" error={errors.additionalGpus?.[0]}>
          <Input name="additionalGpus" type="number" min={1} max={1000} value={amount} onChange={(e) => setAmount(e.target.value)} invalid={Boolean(errors.additionalGpus)} required />
        </Field>
        <div className="md:col-span-3">
          <Field label="Justification" name="justification" error={errors.justification?.[0]} hint="What the GPUs are for and for how long: administrators decide on this.">
            <textarea
              id="justification"
              name="justification"
              rows={3}
              value={justification}
              onChange={(e) => setJustification(e.target.value)}
              aria-invalid={Boolean(errors.justification) || undefined}
              className="block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm shadow-sm focus:border-brand-500 focus:outline-none focus:ring-1 focus:ring-brand-500 aria-[invalid=true]:border-red-500"
              required
            />
          </Field>
        </div>
        <div className="md:col-span-3">
          <Button type="submit" loading={request.isPending}>Send request</Button>
        </div>
      </form>
    </Card>
  );
}

type Requests = RouterOutputs["quotas"]["list"]["requests"];

function QuotaRequests({ requests, canCancel }: { requests: Requests; canCancel: boolean }) {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const [cancelling, setCancelling] = useState<string | null>(null);
  const cancel = api.quotas.cancelRequest.useMutation({
    onSuccess: async () => {
      setCancelling(null);
      toast.success("Request cancelled");
      await utils.quotas.list.invalidate({ orgId: org.id });
    },
    onError: (e) => toast.error(e.message),
  });
  return (
    <section aria-label="Quota requests">
      <h2 className="mb-2 text-sm font-semibold text-slate-700">Requests</h2>
      {requests.length === 0 ? (
        <EmptyState title="No requests yet" />
      ) : (
        <ul className="space-y-2">
          {requests.map((r) => (
            <li key={r.id} className="rounded-lg border border-slate-200 bg-white p-3 text-sm shadow-sm" data-testid="quota-request">
              <div className="flex flex-wrap items-center gap-2">
                <Badge tone={REQUEST_TONES[r.status]}>{REQUEST_LABELS[r.status]}</Badge>
                <span className="font-medium">+{r.additionalGpus} {r.gpuType.name}</span>
                <span className="text-slate-600">in {r.region.name}</span>
                {r.approvedGpus != null && r.status !== "REJECTED" && <span className="text-slate-700">· {r.approvedGpus} granted</span>}
                <span className="ml-auto text-xs text-slate-500">{formatDateTime(r.createdAt)} by {r.requestedBy.name}</span>
              </div>
              {/* pre-wrap: the requester's line breaks are part of what they wrote. */}
              <p className="mt-1 whitespace-pre-wrap break-words text-slate-700" data-testid="quota-justification">{r.justification}</p>
              {r.decisionNote && <p className="mt-1 whitespace-pre-wrap break-words rounded bg-slate-50 px-2 py-1 text-slate-700"><span className="font-medium">Administrator&apos;s note:</span> {r.decisionNote}</p>}
              {canCancel && r.status === "PENDING" && (
                <Button variant="ghost" className="mt-1" loading={cancel.isPending && cancel.variables?.requestId === r.id} onClick={() => setCancelling(r.id)}>
                  Cancel request
                </Button>
              )}
            </li>
          ))}
        </ul>
      )}
      {cancelling && (
        <ConfirmDialog
          title="Cancel this request?"
          confirmLabel="Cancel request"
          cancelLabel="Keep it"
          pending={cancel.isPending}
          onClose={() => setCancelling(null)}
          onConfirm={() => cancel.mutate({ orgId: org.id, requestId: cancelling })}
        >
          The administrators no longer see it; you can send a new one at any time.
        </ConfirmDialog>
      )}
    </section>
  );
}
