"use client";
import Link from "next/link";
import { useId, useState, type FormEvent, type ReactNode } from "react";
import { toast } from "sonner";
import { roleAtLeast } from "@/lib/roles";
import { formatDateTime, formatEur } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { CopyButton } from "../ui/copy-button";
import { Field, Input, Select, fieldErrorsOf, toastUnlessInline } from "../ui/form";
import { Badge, Card, Table, Td } from "../ui/layout";
import { EmptyState, QueryView } from "../ui/states";
import { dataClassLabel, isScaledToZero, isSettled, PHASE_EXPLANATIONS, PhaseBadge, ReplicaStateBadge, SCALED_TO_ZERO_EXPLANATION } from "./phase";
import { DeploymentUsage } from "../usage/deployment-usage";
import { DeploymentResidencyAlert } from "../residency/deployment-alert";
import { ButtonLink } from "../ui/button-link";
import { ArtifactMismatchAlert } from "../evidence/artifact-mismatch";
import { ConfirmDialog } from "../ui/confirm-dialog";
import { AutoscalingSection } from "./autoscaling-section";

type Deployment = RouterOutputs["deployments"]["get"];

/** Fast while the workers are changing something, slow once the deployment has settled. */
const POLL_LIVE_MS = 2_000;
const POLL_SETTLED_MS = 10_000;

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  at: string | null;
}

/** Conditions are stored as JSON written by the workers; read them defensively. */
function conditionsOf(json: unknown): Condition[] {
  if (!Array.isArray(json)) return [];
  return json
    .filter((c): c is Record<string, unknown> => typeof c === "object" && c !== null)
    .map((c) => ({
      type: String(c.type ?? ""),
      status: String(c.status ?? ""),
      reason: String(c.reason ?? ""),
      message: String(c.message ?? ""),
      at: typeof c.at === "string" ? c.at : null,
    }));
}

/** Why a deployment failed, from the most specific fact available. */
function failureMessageOf(d: Deployment, conditions: Condition[]): string | null {
  const failure = conditions.find((c) => c.type === "ReplicaFailure" && c.status === "True" && c.message);
  if (failure) return failure.message;
  const replica = d.replicaSet.find((r) => r.state === "failed" && r.message);
  if (replica?.message) return replica.message;
  return d.events.find((e) => e.type === "Warning")?.message ?? null;
}

const replicasInMotion = (d: Deployment) => d.replicaSet.some((r) => r.state !== "ready" && r.state !== "failed");

export function DeploymentDetail({ deploymentId }: { deploymentId: string }) {
  const org = useCurrentOrg();
  const deployment = api.deployments.get.useQuery(
    { orgId: org.id, deploymentId },
    {
      refetchInterval: (query) => {
        const d = query.state.data;
        if (!d) return POLL_LIVE_MS;
        return isSettled(d) && (d.phase !== "RUNNING" || !replicasInMotion(d)) ? POLL_SETTLED_MS : POLL_LIVE_MS;
      },
    },
  );
  return (
    <>
      <Link href={`/o/${org.slug}/deployments`} className="mb-3 inline-block text-sm font-medium text-brand-700 underline-offset-2 hover:underline">
        <span aria-hidden>← </span>Deployments
      </Link>
      <QueryView query={deployment}>{(d) => <DeploymentView d={d} />}</QueryView>
    </>
  );
}

function useDeploymentActions(d: Deployment) {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const refresh = () =>
    Promise.all([utils.deployments.get.invalidate({ orgId: org.id, deploymentId: d.id }), utils.deployments.list.invalidate({ orgId: org.id })]);
  const handlers = (success: string) => ({
    onSuccess: async () => {
      toast.success(success);
      await refresh();
    },
    onError: (e: unknown) => {
      // Scale and update show their refusal beside their field; the rest as a toast.
      toastUnlessInline(e, ["replicas", "catalogModelId"]);
      // Someone else may have changed it meanwhile: show what is true now.
      void refresh();
    },
  });
  return {
    scale: api.deployments.scale.useMutation(handlers(`Scaling ${d.name}`)),
    stop: api.deployments.stop.useMutation(handlers(`Stopping ${d.name}`)),
    start: api.deployments.start.useMutation(handlers(`Starting ${d.name}`)),
    retry: api.deployments.retry.useMutation(handlers(`Retrying ${d.name}`)),
    update: api.deployments.update.useMutation(handlers(`Updating ${d.name}`)),
    rollback: api.deployments.rollback.useMutation(handlers(`Rolling back ${d.name}`)),
    remove: api.deployments.delete.useMutation(handlers(`Deleting ${d.name}`)),
  };
}
type Actions = ReturnType<typeof useDeploymentActions>;

function DeploymentView({ d }: { d: Deployment }) {
  const org = useCurrentOrg();
  const canAct = roleAtLeast(org.role, "MEMBER");
  const canDelete = roleAtLeast(org.role, "ADMIN");
  const actions = useDeploymentActions(d);
  const busy = Object.values(actions).some((m) => m.isPending);
  const conditions = conditionsOf(d.conditions);
  const deleting = d.desiredState === "DELETED" || d.phase === "DELETING" || d.phase === "DELETED";
  const failure = d.phase === "FAILED" ? failureMessageOf(d, conditions) : null;
  const ready = d.replicaSet.filter((r) => r.state === "ready").length;
  const target = { orgId: org.id, deploymentId: d.id };
  const [confirming, setConfirming] = useState<"stop" | "delete" | null>(null);
  // Gone for good: nothing to call, pay for or act on any more.
  if (d.phase === "DELETED" || d.deletedAt) return <DeletedDeploymentView d={d} />;

  return (
    <div className="space-y-6">
      {/* Actions sit under the title, left: the top-right corner belongs to the toasts they raise. */}
      <header className="space-y-3">
        <div className="min-w-0">
          <div className="flex flex-wrap items-center gap-2">
            <h1 className="break-all text-2xl font-semibold tracking-tight">{d.name}</h1>
            <span role="status" aria-live="polite">
              <span className="sr-only">Status: </span>
              <PhaseBadge phase={d.phase} desiredState={d.desiredState} testId="deployment-phase" />
            </span>
          </div>
          <p className="mt-1 max-w-2xl text-sm text-slate-600">
            {isScaledToZero(d) ? SCALED_TO_ZERO_EXPLANATION : PHASE_EXPLANATIONS[d.phase]}
            {d.desiredState === "STOPPED" && d.phase !== "STOPPED" && !deleting && " A stop has been requested."}
            {d.desiredState === "DELETED" && " Deletion has been requested."}
          </p>
        </div>
        {canAct && (
          <div className="flex flex-wrap gap-2">
            {/* Evidence: where it runs, under which rules, the verified artifact, the audit proofs (members and above). */}
            <ButtonLink variant="secondary" href={`/o/${org.slug}/deployments/${d.id}/evidence`}>
              Evidence
            </ButtonLink>
            {!deleting && d.desiredState === "RUNNING" && (
              <Button variant="secondary" loading={actions.stop.isPending} disabled={busy} onClick={() => setConfirming("stop")}>
                Stop
              </Button>
            )}
            {/* Scaled to zero, it is already meant to run: the next request starts it, "Start" would do nothing. */}
            {!deleting && (d.desiredState === "STOPPED" || (d.phase === "STOPPED" && !isScaledToZero(d))) && (
              <Button loading={actions.start.isPending} disabled={busy} onClick={() => actions.start.mutate(target)}>
                Start
              </Button>
            )}
            {!deleting && canDelete && (
              <Button
                variant="danger"
                loading={actions.remove.isPending}
                disabled={busy}
                onClick={() => setConfirming("delete")}
              >
                Delete
              </Button>
            )}
          </div>
        )}
        {confirming === "stop" && (
          <ConfirmDialog
            title={`Stop ${d.name}?`}
            confirmLabel="Stop deployment"
            pending={actions.stop.isPending}
            onClose={() => setConfirming(null)}
            onConfirm={() => actions.stop.mutate(target, { onSuccess: () => setConfirming(null) })}
          >
            Its replicas stop and its GPUs are released; programs calling it get errors until you start it again.
          </ConfirmDialog>
        )}
        {confirming === "delete" && (
          <ConfirmDialog
            title={`Delete ${d.name}?`}
            confirmLabel="Delete deployment"
            typeToConfirm={d.name}
            pending={actions.remove.isPending}
            onClose={() => setConfirming(null)}
            onConfirm={() => actions.remove.mutate(target, { onSuccess: () => setConfirming(null) })}
          >
            Its replicas stop, its GPUs are released and programs using it get errors. Its usage and audit history stay. This cannot be undone.
          </ConfirmDialog>
        )}
      </header>

      <ArtifactMismatchAlert conditions={conditions} />
      {d.phase === "FAILED" && (
        <div role="alert" className="rounded-lg border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-900">
          <p className="font-semibold">This deployment failed.</p>
          <p className="mt-1 whitespace-pre-wrap break-words font-mono text-xs">{failure ?? "No message was recorded; see the events below."}</p>
          {canAct && !deleting && (
            <Button className="mt-3" loading={actions.retry.isPending} disabled={busy} onClick={() => actions.retry.mutate(target)}>
              Retry
            </Button>
          )}
        </div>
      )}
      {!deleting && <DeploymentResidencyAlert deploymentId={d.id} />}
      {!canAct && <p className="text-sm text-slate-500">You have view access to {org.name}: a member can change this deployment.</p>}

      <dl className="grid grid-cols-2 gap-3 lg:grid-cols-4">
        <Fact label="Price per hour">
          <span data-testid="price-per-hour">{formatEur(d.pricePerHourEur)}</span>
          <span className="ml-1 text-sm font-normal text-slate-500">/ hour</span>
        </Fact>
        <Fact label="Replicas ready" hint={`scales between ${d.minReplicas} and ${d.maxReplicas}`}>
          {ready} of {d.replicas}
        </Fact>
        <Fact label="GPUs" hint={`${d.reservedGpus} reserved`}>
          {d.replicas} × {d.gpusPerReplica} <span className="text-base font-normal text-slate-600">{d.gpuType.code}</span>
        </Fact>
        <Fact label="Region" hint={`${d.region.code} · ${dataClassLabel(d.dataClassification)} data`} compact>
          {d.region.name}
        </Fact>
      </dl>

      <UsageHint d={d} />

      <div className="grid gap-6 lg:grid-cols-2">
        <ModelCard d={d} actions={actions} canAct={canAct && !deleting} busy={busy} />
        {canAct && !deleting && <ScaleCard key={d.replicas} d={d} actions={actions} busy={busy} />}
      </div>

      <DeploymentUsage deploymentId={d.id} name={d.name} />

      <section className="space-y-2">
        <h2 className="text-sm font-semibold text-slate-700">Conditions</h2>
        {conditions.length === 0 ? (
          <EmptyState title="No conditions yet">The workers report conditions once they have looked at this deployment.</EmptyState>
        ) : (
          <Table head={["Type", "Status", "Reason", "Message", "Since"]} caption="Conditions">
            {conditions.map((c) => (
              <tr key={c.type}>
                <Td className="font-medium">{c.type}</Td>
                <Td>
                  <Badge tone={conditionTone(c)}>{c.status}</Badge>
                </Td>
                <Td>{c.reason}</Td>
                <Td className="min-w-64 whitespace-normal text-slate-700">{c.message}</Td>
                <Td className="text-slate-600">{c.at ? formatDateTime(c.at) : "—"}</Td>
              </tr>
            ))}
          </Table>
        )}
      </section>

      <section className="space-y-2">
        <h2 className="text-sm font-semibold text-slate-700">Replicas</h2>
        {d.replicaSet.length === 0 ? (
          <EmptyState title="No replicas">
            {isScaledToZero(d) ? "Scaled to zero: the next request starts one." : d.phase === "STOPPED" || deleting ? "Nothing is running." : "The workers create them shortly."}
          </EmptyState>
        ) : (
          <Table head={["#", "Revision", "State", "Endpoint", "Cluster ref", "Message", "Ready since"]} caption="Replicas">
            {d.replicaSet.map((r) => (
              <tr key={r.id} data-testid="replica-row">
                <Td className="tabular-nums">{r.ordinal}</Td>
                <Td className="tabular-nums">
                  {r.revision}
                  {r.revision !== d.revision && <span className="ml-1 text-xs text-slate-500">(old)</span>}
                </Td>
                <Td>
                  <ReplicaStateBadge state={r.state} />
                </Td>
                <Td className="font-mono text-xs">{r.endpoint ?? "—"}</Td>
                <Td className="font-mono text-xs">{r.clusterRef ?? "—"}</Td>
                <Td className={`min-w-48 whitespace-normal ${r.state === "failed" ? "text-red-800" : "text-slate-700"}`}>{r.message ?? "—"}</Td>
                <Td className="text-slate-600">{r.readyAt ? formatDateTime(r.readyAt) : "—"}</Td>
              </tr>
            ))}
          </Table>
        )}
      </section>

      <AutoscalingSection deploymentId={d.id} canEdit={canAct} />

      <section className="space-y-2">
        <h2 className="text-sm font-semibold text-slate-700">Events</h2>
        {d.events.length === 0 ? (
          <EmptyState title="No events yet" />
        ) : (
          <ol className="space-y-2" aria-label="Events, newest first">
            {d.events.map((e) => {
              const warning = e.type === "Warning";
              return (
                <li
                  key={e.id}
                  className={`rounded-md border-l-4 px-3 py-2 text-sm shadow-sm ${warning ? "border-amber-500 bg-amber-50" : "border-slate-300 bg-white"}`}
                >
                  <div className="flex flex-wrap items-center gap-x-2 gap-y-1">
                    <time dateTime={new Date(e.createdAt).toISOString()} className="text-xs tabular-nums text-slate-500">
                      {formatDateTime(e.createdAt)}
                    </time>
                    {warning && <Badge tone="warn">Warning</Badge>}
                    <span className="font-medium text-slate-800">{e.reason}</span>
                  </div>
                  <p className={`mt-0.5 break-words ${warning ? "text-amber-950" : "text-slate-700"}`}>{e.message}</p>
                </li>
              );
            })}
          </ol>
        )}
      </section>
    </div>
  );
}

/** What remains of a deleted deployment: the name it was given, when it went, what it ran; no actions. */
function DeletedDeploymentView({ d }: { d: Deployment }) {
  const org = useCurrentOrg();
  return (
    <div className="space-y-6">
      <header className="min-w-0">
        <div className="flex flex-wrap items-center gap-2">
          <h1 className="break-all text-2xl font-semibold tracking-tight">{d.name}</h1>
          <PhaseBadge phase="DELETED" testId="deployment-phase" />
        </div>
        <p role="status" data-testid="deleted-on" className="mt-1 text-sm text-slate-600">
          {d.deletedAt ? `Deleted on ${formatDateTime(d.deletedAt)}.` : "Deleted."} Its GPUs are released and it no longer answers calls; its usage and audit history stay.{" "}
          <Link href={`/o/${org.slug}/deployments`} className="font-medium text-brand-700 underline">Back to deployments</Link>
        </p>
      </header>
      <dl className="grid grid-cols-2 gap-3 lg:grid-cols-4">
        <Fact label="Model" compact>
          {d.catalogModel.name} <span className="font-normal text-slate-600">{d.catalogModel.version}</span>
        </Fact>
        <Fact label="Region" hint={`${d.region.code} · ${dataClassLabel(d.dataClassification)} data`} compact>
          {d.region.name}
        </Fact>
        <Fact label="Created" compact>
          {formatDateTime(d.createdAt)}
        </Fact>
      </dl>
      <DeploymentUsage deploymentId={d.id} name={d.name} />
    </div>
  );
}

function conditionTone(c: Condition) {
  if (c.type === "ReplicaFailure") return c.status === "True" ? "bad" : "good";
  if (c.type === "Available") return c.status === "True" ? "good" : "warn";
  return c.status === "True" ? "info" : "neutral";
}

function Fact({ label, hint, compact = false, children }: { label: string; hint?: string; compact?: boolean; children: ReactNode }) {
  return (
    <div className="min-w-0 rounded-lg border border-slate-200 bg-white p-3 shadow-sm sm:p-4">
      <dt className="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</dt>
      <dd className={`mt-1 break-words font-semibold tabular-nums ${compact ? "text-base" : "text-xl sm:text-2xl"}`}>{children}</dd>
      {hint && <dd className="mt-0.5 text-xs text-slate-500">{hint}</dd>}
    </div>
  );
}

/**
 * How programs call it: through the gateway (OpenAI-compatible, API key, limits, metering), with
 * the deployment's name as `model`. Replica endpoints are listed for operators.
 */
function UsageHint({ d }: { d: Deployment }) {
  const org = useCurrentOrg();
  const gateway = api.apiKeys.gatewayUrl.useQuery({ orgId: org.id });
  const endpoints = [...new Set(d.replicaSet.filter((r) => r.state === "ready" && r.endpoint).map((r) => r.endpoint!))];
  if (endpoints.length === 0 && d.endpoint) endpoints.push(d.endpoint);
  const baseUrl = gateway.data?.baseUrl.replace(/\/+$/, "");
  const body = JSON.stringify({ model: d.name, messages: [{ role: "user", content: "Bonjour" }] });
  const curl = baseUrl ? `curl ${baseUrl}/chat/completions -H "Authorization: Bearer $OPENAI_API_KEY" -H 'Content-Type: application/json' -d '${body}'` : null;
  return (
    <Card title="Use it">
      <p className="text-sm text-slate-600">
        Any OpenAI client: base URL <code className="rounded bg-slate-100 px-1 font-mono text-xs">{baseUrl ?? "…"}</code>, an{" "}
        <Link className="font-medium text-brand-700 underline" href={`/o/${org.slug}/api-keys`}>API key</Link> with the inference scope, and{" "}
        <code className="rounded bg-slate-100 px-1 font-mono text-xs">{d.name}</code> as <code className="rounded bg-slate-100 px-1 font-mono text-xs">model</code>.
      </p>
      {curl && (
        <div className="mt-3 flex min-w-0 items-start gap-2">
          <pre className="min-w-0 flex-1 whitespace-pre-wrap break-all rounded bg-slate-900 px-3 py-2 font-mono text-xs text-slate-100">
            <code>{curl}</code>
          </pre>
          <CopyButton text={curl} label="Copy curl example" />
        </div>
      )}
      {endpoints.length === 0 ? (
        <p className="mt-3 text-sm text-slate-500">No replica is serving yet; the gateway routes to replicas once they are ready.</p>
      ) : (
        <div className="mt-3">
          <p className="mb-1 text-xs font-medium uppercase tracking-wide text-slate-500">Replica endpoints (inside the cluster)</p>
          <ul className="space-y-1.5">
            {endpoints.map((url) => (
              <li key={url} className="flex min-w-0 items-center gap-2">
                <code className="min-w-0 flex-1 truncate rounded bg-slate-100 px-2 py-1.5 font-mono text-xs" title={url}>
                  {url}
                </code>
                <CopyButton text={url} label={`Copy endpoint ${url}`} />
              </li>
            ))}
          </ul>
        </div>
      )}
    </Card>
  );
}

function ModelCard({ d, actions, canAct, busy }: { d: Deployment; actions: Actions; canAct: boolean; busy: boolean }) {
  const org = useCurrentOrg();
  const [nextModelId, setNextModelId] = useState("");
  const rollbackId = useId();
  const updateError = fieldErrorsOf(actions.update.error).catalogModelId?.[0];
  function onUpdate(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!nextModelId) return;
    actions.update.mutate({ orgId: org.id, deploymentId: d.id, catalogModelId: nextModelId }, { onSuccess: () => setNextModelId("") });
  }
  return (
    <Card title="Model">
      <p className="text-sm">
        <span className="font-medium">{d.catalogModel.name}</span> <span className="text-slate-600">version {d.catalogModel.version}</span>
        <span className="text-slate-500"> · revision {d.revision}</span>
      </p>
      {canAct && d.otherVersions.length > 0 && (
        <form onSubmit={onUpdate} className="mt-4 flex flex-col gap-2 sm:flex-row sm:items-end">
          <div className="flex-1">
            <Field label="Update to…" name="update-model" error={updateError} hint="Replicas are replaced one revision at a time.">
              <Select name="update-model" value={nextModelId} onChange={(e) => setNextModelId(e.target.value)} invalid={Boolean(updateError)}>
                <option value="">Choose a version</option>
                {d.otherVersions.map((m) => (
                  <option key={m.id} value={m.id}>
                    {m.name} version {m.version}
                  </option>
                ))}
              </Select>
            </Field>
          </div>
          <Button type="submit" variant="secondary" loading={actions.update.isPending} disabled={busy || !nextModelId}>
            Update
          </Button>
        </form>
      )}
      {canAct && d.previousModel && (
        <div className="mt-4 flex flex-col gap-2 border-t border-slate-100 pt-4 sm:flex-row sm:items-center sm:justify-between">
          <p id={rollbackId} className="text-sm text-slate-700">
            Roll back to{" "}
            <span className="font-medium">
              {d.previousModel.name} version {d.previousModel.version}
            </span>
          </p>
          <Button
            variant="secondary"
            aria-describedby={rollbackId}
            loading={actions.rollback.isPending}
            disabled={busy}
            onClick={() => actions.rollback.mutate({ orgId: org.id, deploymentId: d.id })}
          >
            Roll back
          </Button>
        </div>
      )}
      {!canAct && d.previousModel && (
        <p className="mt-2 text-sm text-slate-500">
          Previous version: {d.previousModel.name} version {d.previousModel.version}
        </p>
      )}
    </Card>
  );
}

function ScaleCard({ d, actions, busy }: { d: Deployment; actions: Actions; busy: boolean }) {
  const org = useCurrentOrg();
  const [value, setValue] = useState(String(d.replicas));
  const [tried, setTried] = useState(false);
  const n = Number(value);
  const clientError =
    value.trim() === "" || !Number.isInteger(n)
      ? "Enter a whole number"
      : n < d.minReplicas || n > d.maxReplicas
        ? `Choose between ${d.minReplicas} and ${d.maxReplicas}, the bounds set at creation`
        : undefined;
  const serverError = fieldErrorsOf(actions.scale.error).replicas?.[0];
  const error = (tried || value !== String(d.replicas) ? clientError : undefined) ?? serverError;
  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setTried(true);
    if (clientError) return;
    actions.scale.mutate({ orgId: org.id, deploymentId: d.id, replicas: n });
  }
  return (
    <Card title="Scale">
      <form onSubmit={onSubmit} noValidate className="flex flex-col gap-2 sm:flex-row sm:items-end">
        <div className="flex-1">
          <Field
            label="Replicas"
            name="scale-replicas"
            error={error}
            hint={`Between ${d.minReplicas} and ${d.maxReplicas}; each adds ${formatEur(d.replicas > 0 ? d.pricePerHourEur / d.replicas : 0)}/h.`}
          >
            <Input
              name="scale-replicas"
              type="number"
              inputMode="numeric"
              min={d.minReplicas}
              max={d.maxReplicas}
              step={1}
              value={value}
              onChange={(e) => {
                setValue(e.target.value);
                if (actions.scale.error) actions.scale.reset();
              }}
              invalid={Boolean(error)}
            />
          </Field>
        </div>
        <Button type="submit" variant="secondary" loading={actions.scale.isPending} disabled={busy || value === String(d.replicas)}>
          Apply
        </Button>
      </form>
    </Card>
  );
}
