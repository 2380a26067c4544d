"use client";
import Link from "next/link";
import { roleAtLeast } from "@/lib/roles";
import { dataClassLabel, isSettled, PhaseBadge } from "../deployments/phase";
import { formatDateTime } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api } from "../trpc";
import { ButtonLink } from "../ui/button-link";
import { PageHeader, Table, Td } from "../ui/layout";
import { EmptyState, QueryView } from "../ui/states";

/** Poll while something is changing; once every deployment has settled, focus and mutations refresh it. */
const LIVE_POLL_MS = 2_500;

export function DeploymentsPage() {
  const org = useCurrentOrg();
  const canDeploy = roleAtLeast(org.role, "MEMBER");
  const deployments = api.deployments.list.useQuery(
    { orgId: org.id, limit: 200 },
    { refetchInterval: (query) => (query.state.data?.items.some((d) => !isSettled(d)) ? LIVE_POLL_MS : false) },
  );
  const newHref = `/o/${org.slug}/deployments/new`;
  return (
    <>
      <PageHeader
        title="Deployments"
        description="Catalog models running in the regions you chose, each with an OpenAI-compatible endpoint."
        actions={canDeploy ? <ButtonLink href={newHref}>New deployment</ButtonLink> : undefined}
      />
      <QueryView query={deployments}>
        {({ items: list }) =>
          list.length === 0 ? (
            <EmptyState
              title="No deployments yet"
              action={canDeploy ? <ButtonLink href={newHref}>Deploy a model</ButtonLink> : undefined}
            >
              {canDeploy
                ? "Pick a catalog model, a data classification and a region that your residency policy allows; its status then updates here live."
                : "A member of your organisation can deploy a catalog model; its status then updates here live."}
            </EmptyState>
          ) : (
            <Table head={["Name", "Model", "Region", "Replicas × GPUs", "Data class", "Status", "Created"]} caption="Deployments">
              {list.map((d) => (
                <tr key={d.id}>
                  <Td className="font-medium">
                    <Link href={`/o/${org.slug}/deployments/${d.id}`} className="text-brand-700 underline-offset-2 hover:underline">
                      {d.name}
                    </Link>
                  </Td>
                  <Td className="min-w-40 whitespace-normal">
                    {d.catalogModel.name} <span className="text-slate-500">{d.catalogModel.version}</span>
                  </Td>
                  <Td className="min-w-40 whitespace-normal">
                    {d.region.name} <span className="block text-xs text-slate-500">{d.region.code}</span>
                  </Td>
                  <Td className="tabular-nums">
                    {d.replicas} × {d.gpusPerReplica} <span className="text-slate-500">{d.gpuType.code}</span>
                  </Td>
                  <Td>{dataClassLabel(d.dataClassification)}</Td>
                  <Td>
                    <PhaseBadge phase={d.phase} />
                  </Td>
                  <Td className="text-slate-600">{formatDateTime(d.createdAt)}</Td>
                </tr>
              ))}
            </Table>
          )
        }
      </QueryView>
    </>
  );
}
