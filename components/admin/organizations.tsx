"use client";
import { useState } from "react";
import { toast } from "sonner";
import { formatDate, formatEur, formatNumber, formatSpendBreakdown } from "../format";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { Badge, PageHeader, Table, Td } from "../ui/layout";
import { EmptyState, QueryView } from "../ui/states";
import { ReasonDialog } from "./shared";

type Organization = RouterOutputs["admin"]["organizations"]["items"][number];
type OrgStatus = Organization["status"];

export function AdminOrganizationsPage() {
  const organizations = api.admin.organizations.useQuery({ limit: 200 });
  const [changing, setChanging] = useState<{ org: Organization; status: OrgStatus } | null>(null);
  return (
    <>
      <PageHeader title="Organisations" description="Every tenant on the platform, what it runs and what it spends. Suspend one to stop its workloads without deleting anything." />
      <QueryView query={organizations}>
        {({ items: list }) =>
          list.length === 0 ? (
            <EmptyState title="No organisations yet">Organisations appear here when people sign up and create one.</EmptyState>
          ) : (
            <Table caption="Organisations" head={["Organisation", "Status", "Members", "Deployments", "Quota GPUs", "GPUs in use", "Spend (30 days)", <span key="a" className="sr-only">Actions</span>]}>
              {list.map((o) => {
                return (
                  <tr key={o.id} id={`org-${o.slug}`} className="target:bg-amber-50">
                    <Td className="whitespace-normal">
                      <p className="font-medium">{o.name}</p>
                      <p className="font-mono text-xs text-slate-500">{o.slug}</p>
                      <p className="text-xs text-slate-500">since {formatDate(o.createdAt)}</p>
                    </Td>
                    <Td>
                      <Badge tone={o.status === "ACTIVE" ? "good" : "bad"}>{o.status === "ACTIVE" ? "Active" : "Suspended"}</Badge>
                      {o.status === "SUSPENDED" && o.statusReason && <p className="mt-1 max-w-[16rem] whitespace-normal text-xs text-slate-600">{o.statusReason}</p>}
                    </Td>
                    <Td className="tabular-nums">{formatNumber(o.members)}</Td>
                    <Td className="tabular-nums">{formatNumber(o.deployments)}</Td>
                    <Td className="tabular-nums">{formatNumber(o.quotaGpus)}</Td>
                    <Td className="tabular-nums">{formatNumber(o.gpusInUse)}</Td>
                    <Td className="min-w-[9rem] whitespace-normal tabular-nums">
                      <p>{formatEur(o.spendLast30Days.totalEur)}</p>
                      <p className="max-w-[14rem] text-xs text-slate-500">{formatSpendBreakdown(o.spendLast30Days)}</p>
                    </Td>
                    <Td>
                      {o.status === "ACTIVE" ? (
                        <Button variant="danger" aria-label={`Suspend ${o.name}`} onClick={() => setChanging({ org: o, status: "SUSPENDED" })}>
                          Suspend
                        </Button>
                      ) : (
                        <Button variant="secondary" aria-label={`Reactivate ${o.name}`} onClick={() => setChanging({ org: o, status: "ACTIVE" })}>
                          Reactivate
                        </Button>
                      )}
                    </Td>
                  </tr>
                );
              })}
            </Table>
          )
        }
      </QueryView>
      {changing && <OrganizationStatusDialog {...changing} onClose={() => setChanging(null)} />}
    </>
  );
}

function OrganizationStatusDialog({ org, status, onClose }: { org: Organization; status: OrgStatus; onClose: () => void }) {
  const utils = api.useUtils();
  const setStatus = api.admin.setOrganizationStatus.useMutation({
    onSuccess: async () => {
      toast.success(status === "SUSPENDED" ? `${org.name} is suspended` : `${org.name} is active again`);
      onClose();
      await Promise.all([utils.admin.organizations.invalidate(), utils.admin.quotas.invalidate()]);
    },
    // No toast: the dialog shows the refusal in place (ReasonDialog's FormError), once.
  });
  const suspending = status === "SUSPENDED";
  return (
    <ReasonDialog
      title={suspending ? `Suspend ${org.name}?` : `Reactivate ${org.name}?`}
      description={
        suspending ? (
          <>
            Its deployments stop and its API keys stop working; nothing is deleted. You can reactivate it later.
          </>
        ) : (
          <>The organisation can use the platform again.</>
        )
      }
      reasonRequired={suspending}
      reasonHint="Recorded with the change, so others can see why."
      danger={suspending}
      pending={setStatus.isPending}
      error={setStatus.error}
      onConfirm={(reason) => setStatus.mutate({ orgId: org.id, status, reason })}
      onClose={onClose}
    />
  );
}
