"use client";
import { useMemo } from "react";
import { DATA_CLASSIFICATIONS } from "@/lib/limits";
import { formatPricePerHour } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterOutputs } from "../trpc";
import { Badge, PageHeader, Table, Td } from "../ui/layout";
import { EmptyState, QueryView } from "../ui/states";
import { useSearchParamChoice, useSearchParamFlag, useSearchParamList } from "../ui/url-state";
import { UsageBar } from "./quotas";

type Region = RouterOutputs["regions"]["forOrg"][number];
const CERTIFICATIONS = ["SecNumCloud", "HDS", "ISO 27001", "C5"] as const;

export function RegionsPage() {
  const org = useCurrentOrg();
  // Filters live in the URL, so a filtered comparison can be reloaded and shared.
  const [dataClassification, setDataClassification] = useSearchParamChoice<(typeof DATA_CLASSIFICATIONS)[number] | "">("dataClass", ["", ...DATA_CLASSIFICATIONS], "");
  const [required, setRequired] = useSearchParamList<string>("cert", CERTIFICATIONS);
  const [noExposure, setNoExposure] = useSearchParamFlag("noExposure");
  const regions = api.regions.forOrg.useQuery({ orgId: org.id, ...(dataClassification ? { dataClassification } : {}) });
  const toggle = (c: string) => setRequired(required.includes(c) ? required.filter((x) => x !== c) : [...required, c]);
  const matches = useMemo(
    () => (r: Region) => required.every((c) => r.certifications.includes(c)) && (!noExposure || !r.extraterritorialExposure),
    [required, noExposure],
  );
  return (
    <>
      <PageHeader title="Regions" description="Where your models can run, compared side by side: who operates each region, under which law, with which certifications, at what price and carbon intensity." />
      <fieldset className="mb-4 flex flex-wrap items-end gap-4 rounded-lg border border-slate-200 bg-white p-3 text-sm">
        <legend className="sr-only">Filters</legend>
        <label className="flex flex-col gap-1">
          <span className="font-medium text-slate-700">Data class (applies your residency policy)</span>
          <select aria-label="Data class" className="rounded-md border border-slate-300 px-2 py-1" value={dataClassification} onChange={(e) => setDataClassification(e.target.value as typeof dataClassification)}>
            <option value="">Any</option>
            {DATA_CLASSIFICATIONS.map((c) => <option key={c} value={c}>{c.charAt(0) + c.slice(1).toLowerCase()}</option>)}
          </select>
        </label>
        <div className="flex flex-wrap gap-3" role="group" aria-label="Required certifications">
          {CERTIFICATIONS.map((c) => (
            <label key={c} className="flex items-center gap-1.5">
              <input type="checkbox" checked={required.includes(c)} onChange={() => toggle(c)} /> {c} only
            </label>
          ))}
          <label className="flex items-center gap-1.5">
            <input type="checkbox" checked={noExposure} onChange={(e) => setNoExposure(e.target.checked)} /> No extraterritorial exposure
          </label>
        </div>
      </fieldset>
      <QueryView query={regions}>
        {(list) => {
          const shown = list.filter(matches);
          if (shown.length === 0) return <EmptyState title="No region matches these filters">Remove a filter to see more regions.</EmptyState>;
          return (
            // Status (the filter's verdict) comes right after the name, so it is on screen however narrow the window.
            <Table head={["Region", "Status", "Jurisdiction · exposure", "Certifications", "GPUs: price · free · your quota", "Carbon"]} caption="Regions compared">
              {shown.map((r) => {
                const refused = r.residency && !r.residency.allowed;
                return (
                  <tr key={r.id} className={!r.available || refused || !r.connection.connected ? "bg-slate-50 text-slate-500" : undefined} data-testid={`region-${r.code}`} id={`region-${r.code}`}>
                    <Td className="min-w-[10rem] whitespace-normal">
                      <span className="font-medium text-slate-900">{r.name}</span>
                      <span className="block text-xs">{r.provider} · {r.city}, {r.country}{r.onPremises ? " · on-premises" : ""}</span>
                      <code className="text-xs">{r.code}</code>
                    </Td>
                    <Td className="min-w-[10rem] max-w-[16rem] whitespace-normal break-words">
                      {!r.available ? (
                        <Badge tone="warn">Unavailable: {r.status.toLowerCase()}</Badge>
                      ) : refused ? (
                        <span className="block text-xs">
                          <Badge tone="bad">Not allowed for {dataClassification.toLowerCase()} data</Badge>
                          <span className="mt-1 block">{r.residency!.reasons.join("; ")}</span>
                        </span>
                      ) : r.connection.connected ? (
                        <Badge tone="good">Available</Badge>
                      ) : null}
                      {!r.available && r.statusReason && <span className="mt-1 block text-xs">{r.statusReason}</span>}
                      {!r.connection.connected && (
                        <span className="mt-1 block text-xs">
                          <Badge tone="bad">Not connected</Badge>
                          <span className="mt-1 block">{r.connection.reason}</span>
                        </span>
                      )}
                    </Td>
                    <Td>
                      {r.jurisdiction}
                      <span className="mt-1 block">
                        {r.extraterritorialExposure ? (
                          <span title={r.exposureNote ?? undefined}>
                            <Badge tone="bad">Exposed</Badge>
                            {r.exposureNote && <span className="sr-only">: {r.exposureNote}</span>}
                          </span>
                        ) : (
                          <Badge tone="good">Not exposed</Badge>
                        )}
                      </span>
                    </Td>
                    <Td className="whitespace-normal">
                      <div className="flex max-w-[10rem] flex-wrap gap-1">{r.certifications.length ? r.certifications.map((c) => <Badge key={c} tone="info">{c}</Badge>) : <span className="text-xs">none</span>}</div>
                    </Td>
                    <Td>
                      <ul className="space-y-1">
                        {r.gpus.map((g) => (
                          <li key={g.gpuType.id} className="flex flex-wrap items-center gap-x-2 text-xs">
                            <span className="w-20 font-medium">{g.gpuType.code}</span>
                            <span className="tabular-nums">{formatPricePerHour(g.priceCentsPerGpuHour)}</span>
                            <span className="tabular-nums">· {g.freeGpus} free ·</span>
                            {g.quota.limitGpus > 0 ? <UsageBar used={g.quota.allocatedGpus} total={g.quota.limitGpus} label={`Your ${g.gpuType.code} quota in ${r.code}`} /> : <span className="text-slate-500">no quota</span>}
                          </li>
                        ))}
                      </ul>
                    </Td>
                    <Td className="text-xs tabular-nums">
                      {r.carbonIntensityGco2Kwh}
                      <span className="block">gCO₂/kWh</span>
                    </Td>
                  </tr>
                );
              })}
            </Table>
          );
        }}
      </QueryView>
    </>
  );
}
