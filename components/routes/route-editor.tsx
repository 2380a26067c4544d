"use client";
/**
 * Creates or edits a route (docs/routes.md): name (fixed once created: programs call it), mode,
 * default data class, saturation limit, and the member deployments in preference order with their
 * weights. Checked as you type with the very schema the server applies (lib/model-routes.ts).
 */
import { useState, type FormEvent } from "react";
import { toast } from "sonner";
import { DATA_CLASSIFICATIONS } from "@/lib/limits";
import { MODEL_ROUTE_LIMITS, MODEL_ROUTE_MODE_LABELS, MODEL_ROUTE_MODES, modelRouteCreateInput, type ModelRouteMode } from "@/lib/model-routes";
import { CLASS_LABELS } from "../residency/labels";
import { useCurrentOrg } from "../shell/org-context";
import { api } from "../trpc";
import { Button } from "../ui/button";
import { Dialog, DialogActions } from "../ui/dialog";
import { Fieldset } from "../ui/fields";
import { Field, Input, Select, fieldErrorsOf } from "../ui/form";
import { LoadingState } from "../ui/states";
import type { ModelRoute } from "./routes-page";

type Member = { deploymentId: string; weight: number };

export function RouteEditor({ route, onClose }: { route: ModelRoute | null; onClose: () => void }) {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const deployments = api.deployments.list.useQuery({ orgId: org.id, limit: 200 });
  const [name, setName] = useState(route?.name ?? "");
  const [mode, setMode] = useState<ModelRouteMode>(route?.mode ?? "PRIORITY");
  const [dataClassification, setDataClassification] = useState(route?.dataClassification ?? "INTERNAL");
  const [limit, setLimit] = useState(String(route?.maxInFlightPerReplica ?? MODEL_ROUTE_LIMITS.maxInFlightPerReplica.default));
  const [members, setMembers] = useState<Member[]>(route?.members.filter((m) => m.live).map((m) => ({ deploymentId: m.deploymentId, weight: m.weight })) ?? []);
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});
  const done = async (verb: string) => {
    toast.success(`Route ${verb}: every gateway applies it within a second`);
    await utils.modelRoutes.list.invalidate({ orgId: org.id });
    onClose();
  };
  const create = api.modelRoutes.create.useMutation({ onSuccess: () => done("created"), onError: (e) => toast.error(e.message) });
  const update = api.modelRoutes.update.useMutation({ onSuccess: () => done("saved"), onError: (e) => toast.error(e.message) });
  const serverErrors = fieldErrorsOf(route ? update.error : create.error);
  const errorAt = (key: string) => localErrors[key] ?? Object.entries(serverErrors).find(([k]) => k === key || k.startsWith(`${key}.`))?.[1]?.[0];
  const available = (deployments.data?.items ?? []).filter((d) => !members.some((m) => m.deploymentId === d.id));
  const nameOf = (id: string) => deployments.data?.items.find((d) => d.id === id);

  const move = (index: number, by: number) =>
    setMembers((list) => {
      const next = [...list];
      const [m] = next.splice(index, 1);
      next.splice(index + by, 0, m);
      return next;
    });

  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const parsed = modelRouteCreateInput.safeParse({ name, mode, dataClassification, maxInFlightPerReplica: Number(limit), members });
    if (!parsed.success) {
      const errors: Record<string, string> = {};
      for (const issue of parsed.error.issues) errors[String(issue.path[0])] ??= issue.message;
      setLocalErrors(errors);
      return;
    }
    setLocalErrors({});
    const { name: _name, ...settings } = parsed.data;
    if (route) update.mutate({ orgId: org.id, modelRouteId: route.id, ...settings });
    else create.mutate({ orgId: org.id, ...parsed.data });
  }

  return (
    <Dialog title={route ? `Edit the route ${route.name}` : "New route"} description="The gateway picks one of these deployments per request." onClose={onClose} size="lg">
      <form onSubmit={onSubmit} noValidate className="space-y-4" aria-label={route ? `Edit route ${route.name}` : "New route"}>
        {!route && (
          <Field label="Name" name="route-name" error={errorAt("name")} hint="The model name your programs send; it may not be one of your deployments' names.">
            <Input name="route-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="assistant" autoComplete="off" invalid={Boolean(errorAt("name"))} />
          </Field>
        )}
        <div className="grid gap-4 sm:grid-cols-3">
          <Field label="Mode" name="route-mode" error={errorAt("mode")} hint={MODEL_ROUTE_MODE_LABELS[mode]}>
            <Select name="route-mode" value={mode} onChange={(e) => setMode(e.target.value as ModelRouteMode)}>
              {MODEL_ROUTE_MODES.map((m) => (
                <option key={m} value={m}>
                  {m === "PRIORITY" ? "Priority" : "Weighted"}
                </option>
              ))}
            </Select>
          </Field>
          <Field label="Default data class" name="route-class" error={errorAt("dataClassification")} hint="For requests that send no X-Data-Classification header.">
            <Select name="route-class" value={dataClassification} onChange={(e) => setDataClassification(e.target.value as typeof dataClassification)}>
              {DATA_CLASSIFICATIONS.map((c) => (
                <option key={c} value={c}>
                  {CLASS_LABELS[c]}
                </option>
              ))}
            </Select>
          </Field>
          <Field label="Full at (in flight per replica)" name="route-limit" error={errorAt("maxInFlightPerReplica")} hint="Beyond, traffic overflows to the next allowed deployment.">
            <Input name="route-limit" type="number" inputMode="numeric" min={1} value={limit} onChange={(e) => setLimit(e.target.value)} invalid={Boolean(errorAt("maxInFlightPerReplica"))} />
          </Field>
        </div>
        <Fieldset legend="Deployments, in preference order" hint="They need not run the same model family, but answers then differ from one request to the next." error={errorAt("members")} errorId="route-members-error">
          {deployments.isLoading ? (
            <LoadingState label="Loading your deployments…" rows={2} />
          ) : (
            <>
              <ol className="space-y-2">
                {members.map((m, i) => (
                  <li key={m.deploymentId} className="flex flex-wrap items-center gap-2 rounded-md border border-slate-200 p-2 text-sm">
                    <span className="tabular-nums text-slate-500">{i + 1}.</span>
                    <span className="min-w-0 flex-1 break-all font-medium">
                      {nameOf(m.deploymentId)?.name ?? m.deploymentId} <span className="font-normal text-slate-500">{nameOf(m.deploymentId)?.region.code}</span>
                    </span>
                    {mode === "WEIGHTED" && (
                      <label className="flex items-center gap-1 text-xs text-slate-600">
                        Weight
                        <input
                          type="number"
                          min={1}
                          max={100}
                          value={m.weight}
                          onChange={(e) => setMembers((list) => list.map((x) => (x.deploymentId === m.deploymentId ? { ...x, weight: Number(e.target.value) } : x)))}
                          className="w-16 rounded-md border border-slate-300 px-2 py-1 text-sm"
                        />
                      </label>
                    )}
                    <Button type="button" variant="ghost" disabled={i === 0} onClick={() => move(i, -1)} aria-label={`Move ${nameOf(m.deploymentId)?.name ?? "deployment"} up`}>
                      ↑
                    </Button>
                    <Button type="button" variant="ghost" disabled={i === members.length - 1} onClick={() => move(i, 1)} aria-label={`Move ${nameOf(m.deploymentId)?.name ?? "deployment"} down`}>
                      ↓
                    </Button>
                    <Button type="button" variant="ghost" onClick={() => setMembers((list) => list.filter((x) => x.deploymentId !== m.deploymentId))} aria-label={`Remove ${nameOf(m.deploymentId)?.name ?? "deployment"}`}>
                      Remove
                    </Button>
                  </li>
                ))}
              </ol>
              {available.length > 0 ? (
                <Select
                  name="route-add"
                  aria-label="Add a deployment"
                  value=""
                  onChange={(e) => e.target.value && setMembers((list) => [...list, { deploymentId: e.target.value, weight: 1 }])}
                >
                  <option value="">Add a deployment…</option>
                  {available.map((d) => (
                    <option key={d.id} value={d.id}>
                      {d.name} ({d.region.code}, {CLASS_LABELS[d.dataClassification]})
                    </option>
                  ))}
                </Select>
              ) : (
                members.length === 0 && <p className="text-sm text-slate-600">You have no deployment yet: create one first.</p>
              )}
            </>
          )}
        </Fieldset>
        <DialogActions>
          <Button type="button" variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" loading={create.isPending || update.isPending}>
            {route ? "Save route" : "Create route"}
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
