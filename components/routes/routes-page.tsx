"use client";
/**
 * The console's routes page (docs/routes.md): one card per route with its members in preference
 * order, and per data class whether the gateway may send such a request to each member (with the
 * reasons when not). Owners and admins create, edit and delete routes; deletion is confirmed.
 */
import Link from "next/link";
import { useState } from "react";
import { toast } from "sonner";
import { MODEL_ROUTE_MODE_LABELS } from "@/lib/model-routes";
import { roleAtLeast } from "@/lib/roles";
import { CLASS_LABELS } from "../residency/labels";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { ConfirmDialog } from "../ui/confirm-dialog";
import { Badge, Card, PageHeader } from "../ui/layout";
import { EmptyState, LoadingState, QueryView } from "../ui/states";
import { RouteEditor } from "./route-editor";

export type ModelRoute = RouterOutputs["modelRoutes"]["list"][number];

export function RoutesPage() {
  const org = useCurrentOrg();
  const canEdit = roleAtLeast(org.role, "ADMIN");
  const routes = api.modelRoutes.list.useQuery({ orgId: org.id });
  const [editing, setEditing] = useState<ModelRoute | "new" | null>(null);
  const newButton = canEdit ? (
    <Button type="button" onClick={() => setEditing("new")}>
      New route
    </Button>
  ) : undefined;
  return (
    <>
      <PageHeader
        title="Routes"
        description="A route is one model name your programs call, served by several of your deployments — for example on-premises first, then an EU cloud. For each request the gateway only considers the deployments whose region your residency policy allows for the request's data class, then healthy ones with room, in your order or by weight; it never sends a request to a region its policy refuses."
        actions={newButton}
      />
      <QueryView query={routes} loading={<LoadingState label="Loading the routes…" rows={3} />}>
        {(list) =>
          list.length === 0 ? (
            <EmptyState title="No route yet" action={newButton}>
              Create one to call several deployments under one model name, with failover and overflow that respect your residency policies.
            </EmptyState>
          ) : (
            <div className="space-y-6">
              {list.map((r) => (
                <RouteCard key={r.id} route={r} canEdit={canEdit} onEdit={() => setEditing(r)} />
              ))}
            </div>
          )
        }
      </QueryView>
      {!canEdit && <p className="mt-4 text-sm text-slate-500">Owners and admins change the routes.</p>}
      {editing && <RouteEditor route={editing === "new" ? null : editing} onClose={() => setEditing(null)} />}
    </>
  );
}

function RouteCard({ route, canEdit, onEdit }: { route: ModelRoute; canEdit: boolean; onEdit: () => void }) {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const [confirming, setConfirming] = useState(false);
  const remove = api.modelRoutes.remove.useMutation({
    onSuccess: async () => {
      toast.success(`Route ${route.name} deleted: every gateway applies it within a second`);
      setConfirming(false);
      await utils.modelRoutes.list.invalidate({ orgId: org.id });
    },
    onError: (e) => toast.error(e.message),
  });
  const families = new Set(route.members.map((m) => m.modelFamily));
  return (
    <section aria-labelledby={`route-${route.id}`} data-testid="route-card">
      <Card
        title={
          <span id={`route-${route.id}`} className="flex flex-wrap items-center gap-2">
            <code className="break-all font-mono text-base text-slate-900">{route.name}</code>
            <Badge tone="info">{route.mode === "PRIORITY" ? "Priority" : "Weighted"}</Badge>
            <Badge>Default class: {CLASS_LABELS[route.dataClassification]}</Badge>
          </span>
        }
      >
        <p className="text-xs text-slate-500">
          {MODEL_ROUTE_MODE_LABELS[route.mode]}. A deployment is full at {route.maxInFlightPerReplica} request(s) in flight per replica.
          {families.size > 1 && " Its deployments run different model families: answers may differ from one request to the next."}
        </p>
        <ol className="mt-3 space-y-3">
          {route.members.map((m) => (
            <li key={m.deploymentId} className="rounded-md border border-slate-200 p-3" data-testid="route-member">
              <div className="flex flex-wrap items-center gap-2 text-sm">
                <span className="font-semibold tabular-nums text-slate-500">{m.position + 1}.</span>
                <Link href={`/o/${org.slug}/deployments/${m.deploymentId}`} className="break-all font-medium text-brand-700 underline">
                  {m.deploymentName}
                </Link>
                <span className="text-slate-600">
                  {m.region.code} · {m.region.jurisdiction} · {m.model}
                </span>
                {route.mode === "WEIGHTED" && <Badge>Weight {m.weight}</Badge>}
                {!m.live ? <Badge tone="bad">Deleted: skipped</Badge> : <Badge tone={m.phase === "RUNNING" ? "good" : "warn"}>{m.phase.toLowerCase()}</Badge>}
              </div>
              <ul className="mt-2 flex flex-wrap gap-2" aria-label={`Data classes ${m.deploymentName} may take`}>
                {m.dataClasses.map((c) => (
                  <li key={c.dataClassification}>
                    <span
                      className={`inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ${c.allowed ? "bg-emerald-100 text-emerald-800" : "bg-red-100 text-red-800"}`}
                      title={c.reasons.join("; ") || undefined}
                    >
                      <span aria-hidden>{c.allowed ? "✓" : "✕"}</span>
                      {CLASS_LABELS[c.dataClassification]}
                      <span className="sr-only">{c.allowed ? ": allowed" : `: refused, ${c.reasons.join("; ")}`}</span>
                    </span>
                  </li>
                ))}
              </ul>
            </li>
          ))}
        </ol>
        {canEdit && (
          <div className="mt-3 flex flex-wrap gap-2">
            <Button type="button" variant="secondary" onClick={onEdit}>
              Edit
            </Button>
            <Button type="button" variant="ghost" onClick={() => setConfirming(true)}>
              Delete
            </Button>
          </div>
        )}
      </Card>
      {confirming && (
        <ConfirmDialog
          title={`Delete the route ${route.name}?`}
          confirmLabel="Delete route"
          typeToConfirm={route.name}
          pending={remove.isPending}
          onClose={() => setConfirming(false)}
          onConfirm={() => remove.mutate({ orgId: org.id, modelRouteId: route.id })}
        >
          Programs that call this name get “model not found” within a second. The deployments keep serving under their own names.
        </ConfirmDialog>
      )}
    </section>
  );
}
