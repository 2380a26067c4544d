"use client";
import { useEffect, useState, type FormEvent } from "react";
import { toast } from "sonner";
import { STARTER_QUOTA_MAX_ENTRIES } from "@/lib/starter-quota";
import { api } from "../trpc";
import { Button } from "../ui/button";
import { Input, Select } from "../ui/form";
import { Card, PageHeader } from "../ui/layout";
import { EmptyState, QueryView } from "../ui/states";
import { FormError, formErrors, parseWholeNumber } from "./shared";

interface Line {
  key: number;
  regionId: string;
  gpuTypeId: string;
  amount: string;
}

let nextKey = 1;

/** Platform settings: the starter quota every new organisation receives (docs/onboarding.md). */
export function AdminPlatformSettingsPage() {
  return (
    <>
      <PageHeader title="Platform settings" description="Defaults that apply to organisations created from now on." />
      <StarterQuotaCard />
    </>
  );
}

function StarterQuotaCard() {
  const utils = api.useUtils();
  const current = api.admin.starterQuota.useQuery();
  const regions = api.admin.regions.useQuery();
  const [lines, setLines] = useState<Line[] | null>(null);
  const [local, setLocal] = useState<Record<string, string>>({});
  const save = api.admin.setStarterQuota.useMutation({
    onSuccess: (result) => {
      utils.admin.starterQuota.setData(undefined, result);
      toast.success(result.entries.length ? "Starter quota saved: new organisations receive it" : "Starter quota cleared: new organisations start with none");
    },
  });
  // The form starts from the saved setting once it has loaded.
  useEffect(() => {
    if (current.data && lines === null) {
      setLines(current.data.entries.map((e) => ({ key: nextKey++, regionId: e.region.id, gpuTypeId: e.gpuType.id, amount: String(e.limitGpus) })));
    }
  }, [current.data, lines]);

  const messageFor = formErrors(save.error, local);
  const usableRegions = (regions.data ?? []).filter((r) => r.status !== "RETIRED" && r.capacities.length > 0);

  function update(key: number, patch: Partial<Line>) {
    setLines((ls) => (ls ?? []).map((l) => (l.key === key ? { ...l, ...patch } : l)));
  }
  function onSubmit(event: FormEvent) {
    event.preventDefault();
    const problems: Record<string, string> = {};
    const entries = (lines ?? []).map((l, i) => {
      const amount = parseWholeNumber(l.amount);
      if (amount === null) problems[`entries.${i}.limitGpus`] = "Enter a whole number of GPUs";
      if (!l.regionId) problems[`entries.${i}.regionId`] = "Choose a region";
      if (!l.gpuTypeId) problems[`entries.${i}.gpuTypeId`] = "Choose a GPU type";
      return { regionId: l.regionId, gpuTypeId: l.gpuTypeId, limitGpus: amount ?? 0 };
    });
    setLocal(problems);
    if (Object.keys(problems).length) return;
    save.mutate({ entries });
  }

  return (
    <Card title="Starter quota for new organisations">
      <p className="mb-3 text-sm text-slate-600">
        Each organisation created from now on receives these GPUs as its quota, so it can deploy at once, before any quota request is decided. Existing organisations keep
        their quotas.
      </p>
      <QueryView query={current}>
        {() =>
          lines === null ? null : (
            <form onSubmit={onSubmit} noValidate className="space-y-3" aria-label="Starter quota">
              {lines.length === 0 && <EmptyState title="No starter quota">New organisations start with no quota and must request one.</EmptyState>}
              <ul className="space-y-3">
                {lines.map((line, i) => {
                  const region = usableRegions.find((r) => r.id === line.regionId);
                  const capacity = region?.capacities.find((c) => c.gpuType.id === line.gpuTypeId);
                  const names = { region: `entries.${i}.regionId`, gpuType: `entries.${i}.gpuTypeId`, amount: `entries.${i}.limitGpus` };
                  const errors = { region: messageFor(names.region), gpuType: messageFor(names.gpuType), amount: messageFor(names.amount) };
                  return (
                    <li key={line.key} className="grid grid-cols-1 gap-2 rounded-md border border-slate-200 p-3 sm:grid-cols-[2fr_2fr_1fr_auto] sm:items-start" data-testid="starter-quota-line">
                      <div>
                        <label htmlFor={names.region} className="block text-xs font-medium text-slate-700">Region</label>
                        <Select name={names.region} value={line.regionId} invalid={!!errors.region} onChange={(e) => update(line.key, { regionId: e.target.value, gpuTypeId: "" })}>
                          <option value="">Choose a region</option>
                          {usableRegions.map((r) => (
                            <option key={r.id} value={r.id}>{r.name} ({r.code})</option>
                          ))}
                        </Select>
                        {errors.region && <p id={`${names.region}-error`} role="alert" className="mt-1 text-xs font-medium text-red-700">{errors.region}</p>}
                      </div>
                      <div>
                        <label htmlFor={names.gpuType} className="block text-xs font-medium text-slate-700">GPU type</label>
                        <Select name={names.gpuType} value={line.gpuTypeId} invalid={!!errors.gpuType} disabled={!region} onChange={(e) => update(line.key, { gpuTypeId: e.target.value })}>
                          <option value="">Choose a GPU type</option>
                          {region?.capacities.map((c) => (
                            <option key={c.gpuType.id} value={c.gpuType.id}>{c.gpuType.name} ({c.totalGpus} in the region)</option>
                          ))}
                        </Select>
                        {errors.gpuType && <p id={`${names.gpuType}-error`} role="alert" className="mt-1 text-xs font-medium text-red-700">{errors.gpuType}</p>}
                      </div>
                      <div>
                        <label htmlFor={names.amount} className="block text-xs font-medium text-slate-700">GPUs</label>
                        <Input name={names.amount} inputMode="numeric" value={line.amount} invalid={!!errors.amount} onChange={(e) => update(line.key, { amount: e.target.value })} />
                        {errors.amount ? (
                          <p id={`${names.amount}-error`} role="alert" className="mt-1 text-xs font-medium text-red-700">{errors.amount}</p>
                        ) : (
                          capacity && <p className="mt-1 text-xs text-slate-500">At most {capacity.totalGpus}</p>
                        )}
                      </div>
                      <Button type="button" variant="ghost" className="sm:mt-5" aria-label={`Remove line ${i + 1}`} onClick={() => setLines((ls) => (ls ?? []).filter((l) => l.key !== line.key))}>
                        Remove
                      </Button>
                    </li>
                  );
                })}
              </ul>
              <FormError error={save.error} hidden={messageFor.shownAny()} />
              <div className="flex flex-wrap gap-2">
                <Button
                  type="button"
                  variant="secondary"
                  disabled={lines.length >= STARTER_QUOTA_MAX_ENTRIES || regions.isLoading}
                  onClick={() => setLines((ls) => [...(ls ?? []), { key: nextKey++, regionId: "", gpuTypeId: "", amount: "1" }])}
                >
                  Add a line
                </Button>
                <Button type="submit" loading={save.isPending}>
                  Save starter quota
                </Button>
              </div>
            </form>
          )
        }
      </QueryView>
    </Card>
  );
}
