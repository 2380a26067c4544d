"use client";
import Link from "next/link";
import { DATA_CLASSIFICATIONS, type DataClassification } from "@/lib/limits";
import { roleAtLeast } from "@/lib/roles";
import { dataClassLabel, isSettled, PhaseBadge } from "../deployments/phase";
import { formatDateTime } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api } from "../trpc";
import { ButtonLink } from "../ui/button-link";
import { PageHeader, Table, Td } from "../ui/layout";
import { EmptyState, QueryView } from "../ui/states";
import { Select } from "../ui/form";
import { useSearchParamChoice } from "../ui/url-state";

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
  // In the URL, so a filtered list can be reloaded and shared.
  const [dataClass, setDataClass] = useSearchParamChoice<DataClassification | "">("dataClass", ["", ...DATA_CLASSIFICATIONS], "");
  return (
    <>
      <PageHeader
        title="Deployments"
        description="Catalog models running in the regions you chose, each with an OpenAI-compatible endpoint."
        actions={canDeploy ? <ButtonLink href={newHref}>New deployment</ButtonLink> : undefined}
      />
      <QueryView query={deployments}>
        {({ items: all }) => {
          const list = dataClass ? all.filter((d) => d.dataClassification === dataClass) : all;
          return (
          <>
          {all.length > 0 && (
            <div className="mb-3 max-w-xs">
              <label htmlFor="deployments-data-class" className="mb-1 block text-sm font-medium text-slate-700">Data class</label>
              <Select id="deployments-data-class" name="deployments-data-class" value={dataClass} onChange={(e) => setDataClass(e.target.value as DataClassification | "")}>
                <option value="">Any</option>
                {DATA_CLASSIFICATIONS.map((c) => <option key={c} value={c}>{dataClassLabel(c)}</option>)}
              </Select>
            </div>
          )}
          {all.length > 0 && list.length === 0 ? (
            <EmptyState title="No deployment of this data class">Choose another data class, or Any, to see the others.</EmptyState>
          ) : list.length === 0 ? (
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
                    <PhaseBadge phase={d.phase} desiredState={d.desiredState} />
                  </Td>
                  <Td className="text-slate-600">{formatDateTime(d.createdAt)}</Td>
                </tr>
              ))}
            </Table>
          )}
          </>
          );
        }}
      </QueryView>
    </>
  );
}
