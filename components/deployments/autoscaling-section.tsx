"use client";
import { useState, type FormEvent } from "react";
import { toast } from "sonner";
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { AUTOSCALING_LIMITS, AUTOSCALING_PERIODS_HOURS, autoscalingPolicyInput } from "@/lib/autoscaling";
import { formatDateTime, formatEur } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { Field, Input, Select, fieldErrorsOf, toastUnlessInline } from "../ui/form";
import { Card } from "../ui/layout";
import { EmptyState, QueryView } from "../ui/states";

type View = RouterOutputs["deployments"]["autoscaling"];
const FIELDS = ["minReplicas", "maxReplicas", "targetInFlight", "scaleUpWindowSeconds", "scaleDownWindowSeconds", "idleTimeoutSeconds"] as const;
type FieldName = (typeof FIELDS)[number];
const LABELS: Record<FieldName, string> = {
  minReplicas: "Minimum replicas",
  maxReplicas: "Maximum replicas",
  targetInFlight: "Target in-flight requests per replica",
  scaleUpWindowSeconds: "Scale-up window (s)",
  scaleDownWindowSeconds: "Scale-down window (s)",
  idleTimeoutSeconds: "Idle timeout to zero (s)",
};

/** The deployment page's autoscaling section: the policy editor, replicas and signal over time, GPU-hours saved. */
export function AutoscalingSection({ deploymentId, canEdit }: { deploymentId: string; canEdit: boolean }) {
  const org = useCurrentOrg();
  const [hours, setHours] = useState<number>(24);
  const query = api.deployments.autoscaling.useQuery({ orgId: org.id, deploymentId, hours }, { refetchInterval: 5_000 });
  return (
    <Card title="Autoscaling">
      <QueryView query={query}>
        {(view) => (
          <div className="space-y-4">
            <PolicyForm key={`${view.policy?.updatedAt ?? "none"}-${view.minReplicas}-${view.maxReplicas}`} view={view} canEdit={canEdit} />
            <Signal view={view} hours={hours} setHours={setHours} />
          </div>
        )}
      </QueryView>
    </Card>
  );
}

function PolicyForm({ view, canEdit }: { view: View; canEdit: boolean }) {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const start = view.policy ?? { ...view.defaults, enabled: false };
  const [enabled, setEnabled] = useState(start.enabled);
  const [values, setValues] = useState<Record<FieldName, string>>({
    minReplicas: String(view.minReplicas),
    maxReplicas: String(view.maxReplicas),
    targetInFlight: String(start.targetInFlight),
    scaleUpWindowSeconds: String(start.scaleUpWindowSeconds),
    scaleDownWindowSeconds: String(start.scaleDownWindowSeconds),
    idleTimeoutSeconds: String(start.idleTimeoutSeconds),
  });
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const save = api.deployments.setAutoscaling.useMutation({
    onSuccess: async () => {
      toast.success(enabled ? "Autoscaling policy saved" : "Autoscaling turned off");
      setErrors({});
      await Promise.all([utils.deployments.autoscaling.invalidate(), utils.deployments.get.invalidate({ orgId: org.id, deploymentId: view.deploymentId })]);
    },
    onError: (error) => {
      const byField = fieldErrorsOf(error);
      setErrors(Object.fromEntries(Object.entries(byField).map(([k, v]) => [k, v?.[0]])));
      toastUnlessInline(error, FIELDS);
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const input = { deploymentId: view.deploymentId, enabled, ...Object.fromEntries(FIELDS.map((f) => [f, values[f] === "" ? NaN : Number(values[f])])) };
    const parsed = autoscalingPolicyInput.safeParse(input);
    if (!parsed.success) {
      setErrors(Object.fromEntries(parsed.error.issues.map((i) => [String(i.path[0]), i.message])));
      return;
    }
    setErrors({});
    save.mutate({ orgId: org.id, ...parsed.data });
  };

  const hint: Partial<Record<FieldName, string>> = {
    minReplicas: "0 lets the deployment scale to zero when idle; requests then wait for a cold start.",
    targetInFlight: `${AUTOSCALING_LIMITS.targetInFlight.min}–${AUTOSCALING_LIMITS.targetInFlight.max}; replicas = in flight ÷ target, rounded up.`,
    scaleDownWindowSeconds: "Scale down only to the highest recommendation of this window.",
    idleTimeoutSeconds: "With minimum 0: no request for this long, and the last replica stops.",
  };

  return (
    <form onSubmit={submit} className="space-y-3" aria-label="Autoscaling policy">
      <label className="flex items-center gap-2 text-sm text-slate-700">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} disabled={!canEdit} />
        Scale automatically on the gateways&apos; in-flight requests
      </label>
      <div className="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-3">
        {FIELDS.map((f) => (
          <Field key={f} label={LABELS[f]} name={`autoscaling-${f}`} error={errors[f]} hint={hint[f]}>
            <Input
              name={`autoscaling-${f}`}
              type="number"
              inputMode="decimal"
              step={f === "targetInFlight" ? "0.5" : "1"}
              value={values[f]}
              disabled={!canEdit}
              invalid={Boolean(errors[f])}
              onChange={(e) => setValues((v) => ({ ...v, [f]: e.target.value }))}
            />
          </Field>
        ))}
      </div>
      {view.policy?.lastRefusal && <p role="status" className="text-sm text-amber-800">Last scale-up refused: {view.policy.lastRefusal}</p>}
      {canEdit && (
        <Button type="submit" disabled={save.isPending}>
          {save.isPending ? "Saving…" : "Save policy"}
        </Button>
      )}
    </form>
  );
}

function Signal({ view, hours, setHours }: { view: View; hours: number; setHours: (h: number) => void }) {
  const data = view.series.map((p) => ({ t: new Date(p.at).getTime(), replicas: p.replicas, load: Math.round((p.inFlight + p.queued) * 100) / 100 }));
  const time = (t: number) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", ...(hours <= 1 ? { second: "2-digit" } : {}) });
  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <dl className="grid grid-cols-2 gap-x-6 gap-y-1 text-sm sm:grid-cols-4">
          <dt className="text-slate-500">Replicas now</dt>
          <dd className="font-medium tabular-nums">{view.replicas}</dd>
          <dt className="text-slate-500">In flight now</dt>
          <dd className="font-medium tabular-nums">
            {view.signal.inFlight.toFixed(1)}
            {view.signal.queued > 0 && ` + ${view.signal.queued} held`}
          </dd>
          <dt className="text-slate-500">GPU-hours saved</dt>
          <dd className="font-medium tabular-nums">
            {view.savings.gpuHoursSaved.toFixed(2)} of {view.savings.gpuHoursAtMax.toFixed(2)} at max
          </dd>
          <dt className="text-slate-500">Saved</dt>
          <dd className="font-medium tabular-nums">{formatEur(view.savings.eurSaved)}</dd>
        </dl>
        <div className="w-40">
          <Field label="Period" name="autoscaling-period">
            <Select name="autoscaling-period" value={hours} onChange={(e) => setHours(Number(e.target.value))}>
              {AUTOSCALING_PERIODS_HOURS.map((h) => (
                <option key={h} value={h}>
                  {h < 24 ? `Last ${h} h` : `Last ${h / 24} day${h === 24 ? "" : "s"}`}
                </option>
              ))}
            </Select>
          </Field>
        </div>
      </div>
      {data.length === 0 ? (
        <EmptyState title="No autoscaling samples in this period" />
      ) : (
        <figure className="h-56 w-full" aria-label={`Replicas and in-flight requests over the last ${hours} hours`}>
          <ResponsiveContainer width="100%" height="100%">
            <LineChart data={data} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
              <CartesianGrid strokeDasharray="3 3" vertical={false} stroke="#e2e8f0" />
              <XAxis dataKey="t" type="number" domain={["dataMin", "dataMax"]} tickFormatter={time} tick={{ fontSize: 11 }} />
              <YAxis tick={{ fontSize: 11 }} width={40} />
              <Tooltip labelFormatter={(t) => formatDateTime(new Date(Number(t)))} />
              <Line type="stepAfter" dataKey="replicas" name="Replicas" stroke="#1d4ed8" dot={false} isAnimationActive={false} />
              <Line type="monotone" dataKey="load" name="In flight + held" stroke="#b45309" strokeDasharray="6 3" dot={false} isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        </figure>
      )}
      <p className="text-xs text-slate-500">Scaling decisions appear in the events below, with the signal that caused them.</p>
    </div>
  );
}
