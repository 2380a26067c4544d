"use client";
import { useRef, useState, type FormEvent } from "react";
import { toast } from "sonner";
import { formatNumber, formatPricePerHour } from "../format";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { Dialog, DialogActions } from "../ui/dialog";
import { Checkbox, Fieldset, Textarea } from "../ui/fields";
import { Field, Input, Select, fieldErrorsOf } from "../ui/form";
import { IconButton, RowActions, type IconName } from "../ui/icon-button";
import { Badge, PageHeader, Table, Td } from "../ui/layout";
import { EmptyState, QueryView } from "../ui/states";
import { certificationDetailInput, regionInput, SOVEREIGNTY_LEVELS } from "@/lib/schemas";
import { centsToEuros, FormError, formErrors, groupError, parseEurosToCents, parseWholeNumber, ReasonDialog, UsageBar, useFocusFirstInvalid } from "./shared";

type Region = RouterOutputs["admin"]["regions"][number];
type RegionStatus = Region["status"];
type DriverKind = Region["driverKind"];

const STATUS_LABELS: Record<RegionStatus, string> = { ACTIVE: "Active", MAINTENANCE: "Maintenance", DRAINING: "Draining", RETIRED: "Retired" };
const STATUS_TONES = { ACTIVE: "good", MAINTENANCE: "warn", DRAINING: "warn", RETIRED: "neutral" } as const satisfies Record<RegionStatus, string>;
const STATUS_WORDS: Record<RegionStatus, string> = { ACTIVE: "active", MAINTENANCE: "under maintenance", DRAINING: "draining", RETIRED: "retired" };
const DRIVER_LABELS: Record<DriverKind, string> = { LOCAL: "Local", SLURM: "Slurm", KUBERNETES: "Kubernetes" };
const KNOWN_CERTIFICATIONS = ["SecNumCloud", "HDS", "ISO 27001", "C5"] as const;
type SovereigntyLevel = (typeof SOVEREIGNTY_LEVELS)[number];
/** EU Cloud Sovereignty Framework levels: SEAL_3 is written SEAL-3. */
const sealLabel = (level: string) => level.replace("_", "-");

/** What each status action is called on its button, and what it means for tenants. */
const STATUS_ACTIONS: Record<RegionStatus, { button: string; icon: IconName; title: (code: string) => string; description: string; danger?: boolean }> = {
  MAINTENANCE: {
    button: "Maintenance",
    icon: "wrench",
    title: (code) => `Put ${code} into maintenance`,
    description: "Tenants see the region as under maintenance, with your reason.",
  },
  DRAINING: {
    button: "Draining",
    icon: "drain",
    title: (code) => `Drain ${code}`,
    description: "The region is being emptied: tenants see it as draining, with your reason.",
  },
  RETIRED: {
    button: "Retire",
    icon: "archive",
    title: (code) => `Retire ${code}`,
    description: "A retired region no longer appears in tenants' list of regions.",
    danger: true,
  },
  ACTIVE: {
    button: "Activate",
    icon: "play",
    title: (code) => `Activate ${code}`,
    description: "The region is offered to tenants again.",
  },
};
const ACTION_ORDER: RegionStatus[] = ["MAINTENANCE", "DRAINING", "RETIRED", "ACTIVE"];

export function AdminRegionsPage() {
  const regions = api.admin.regions.useQuery();
  const [editing, setEditing] = useState<Region | "new" | null>(null);
  const [statusChange, setStatusChange] = useState<{ region: Region; status: RegionStatus } | null>(null);

  return (
    <>
      <PageHeader
        title="Regions"
        description="Where tenants can run models: operator, jurisdiction, certifications, exposure to non-EU law, GPU capacity and prices."
        actions={<Button onClick={() => setEditing("new")}>New region</Button>}
      />
      <QueryView query={regions}>
        {(list) =>
          list.length === 0 ? (
            <EmptyState title="No regions yet">
              Add the first region tenants can deploy to, with its GPU capacity and prices.
            </EmptyState>
          ) : (
            <RegionsTable regions={list} onEdit={setEditing} onStatus={(region, status) => setStatusChange({ region, status })} />
          )
        }
      </QueryView>
      {editing && <RegionFormDialog region={editing === "new" ? null : editing} onClose={() => setEditing(null)} />}
      {statusChange && <RegionStatusDialog {...statusChange} onClose={() => setStatusChange(null)} />}
    </>
  );
}

function RegionsTable({ regions, onEdit, onStatus }: { regions: Region[]; onEdit: (r: Region) => void; onStatus: (r: Region, s: RegionStatus) => void }) {
  return (
    <Table caption="Regions" head={["Region", "Jurisdiction", "Certifications", "Driver", "Status", "GPU capacity", "Carbon", <span key="a" className="sr-only">Actions</span>]}>
      {regions.map((r) => (
        <tr key={r.id}>
          <Td className="whitespace-normal">
            <p className="font-mono text-xs font-medium">{r.code}</p>
            <p className="text-slate-600">{r.name}</p>
            <p className="text-xs text-slate-600">
              {r.provider} · {r.city}, {r.country}
              {r.onPremises && <span className="text-slate-500"> (on premises)</span>}
            </p>
          </Td>
          <Td>
            {r.jurisdiction}
            <span className="mt-1 flex flex-wrap gap-1">
              {r.sovereigntyLevel && (
                <span title="EU Cloud Sovereignty Framework level">
                  <Badge tone="info">{sealLabel(r.sovereigntyLevel)}</Badge>
                </span>
              )}
              {r.extraterritorialExposure && (
                <span title={r.exposureNote ?? undefined}>
                  <Badge tone="bad">Exposed</Badge>
                  {r.exposureNote && <span className="sr-only">: {r.exposureNote}</span>}
                </span>
              )}
            </span>
          </Td>
          <Td className="whitespace-normal">
            {r.certifications.length === 0 ? (
              <span className="text-slate-500">None</span>
            ) : (
              <ul className="flex max-w-[11rem] flex-wrap gap-1">
                {r.certifications.map((c) => {
                  const detail = r.certificationDetails.find((d) => d.name === c);
                  return (
                    <li key={c} title={detail ? `${detail.issuer}, ${detail.validFrom} – ${detail.validUntil ?? "no end date"}` : "No details given"}>
                      <Badge tone="info">{c}</Badge>
                    </li>
                  );
                })}
              </ul>
            )}
          </Td>
          {/* Endpoints often contain the region code: a tooltip keeps the code the only match in the row. */}
          <Td className="min-w-[8rem] whitespace-normal">
            <span title={r.driverEndpoint ?? "No endpoint"}>{DRIVER_LABELS[r.driverKind]}</span>
            <ClusterConnection connection={r.connection} />
          </Td>
          <Td className="whitespace-normal">
            <Badge tone={STATUS_TONES[r.status]}>{STATUS_LABELS[r.status]}</Badge>
            {r.statusReason && r.status !== "ACTIVE" && <p className="mt-1 max-w-[12rem] break-words text-xs text-slate-600">{r.statusReason}</p>}
          </Td>
          <Td>
            {r.capacities.length === 0 ? (
              <span className="text-slate-500">No GPUs</span>
            ) : (
              <ul className="space-y-1.5">
                {r.capacities.map((c) => (
                  <li key={c.gpuType.id} className="text-xs">
                    <span className="font-medium">{c.gpuType.code}</span>{" "}
                    <span className="tabular-nums">
                      {formatNumber(c.allocatedGpus)} / {formatNumber(c.totalGpus)}
                    </span>
                    <span className="sr-only"> allocated</span> <span className="text-slate-500">· {formatPricePerHour(c.priceCentsPerGpuHour)}</span>
                    <UsageBar used={c.allocatedGpus} total={c.totalGpus} />
                  </li>
                ))}
              </ul>
            )}
          </Td>
          <Td className="text-xs tabular-nums">
            {formatNumber(r.carbonIntensityGco2Kwh)}
            <span className="block text-slate-500">gCO₂/kWh</span>
          </Td>
          <Td>
            <RowActions>
              <IconButton icon="edit" label={`Edit ${r.code}`} onClick={() => onEdit(r)} />
              {ACTION_ORDER.filter((s) => s !== r.status).map((s) => (
                <IconButton key={s} icon={STATUS_ACTIONS[s].icon} tone={STATUS_ACTIONS[s].danger ? "danger" : "neutral"} label={STATUS_ACTIONS[s].button} onClick={() => onStatus(r, s)} />
              ))}
            </RowActions>
          </Td>
        </tr>
      ))}
    </Table>
  );
}

/** Whether this installation can drive the region's cluster, and what an operator sets to connect it. */
function ClusterConnection({ connection }: { connection: Region["connection"] }) {
  if (connection.connected) {
    return (
      <span className="mt-1 block">
        <Badge tone="good">Connected</Badge>
      </span>
    );
  }
  return (
    <span className="mt-1 block max-w-[12rem] text-xs text-slate-600">
      <Badge tone="bad">{connection.misconfigured ? "Endpoint mismatch" : "Not connected"}</Badge>
      {connection.misconfigured ? (
        <span className="mt-1 block">Its endpoint is not the URL its credentials are configured for: the token is not sent there, and deployments cannot start.</span>
      ) : (
        <>
          <span className="mt-1 block">Tenants cannot deploy here until this installation has the cluster&apos;s credentials. Set in the environment of the console and the workers:</span>
          <span className="mt-0.5 block break-all font-mono">{connection.missingSettings.join(", ")}</span>
        </>
      )}
    </span>
  );
}

function RegionStatusDialog({ region, status, onClose }: { region: Region; status: RegionStatus; onClose: () => void }) {
  const utils = api.useUtils();
  const action = STATUS_ACTIONS[status];
  const setStatus = api.admin.setRegionStatus.useMutation({
    onSuccess: async () => {
      toast.success(`${region.code} is now ${STATUS_WORDS[status]}`);
      onClose();
      await utils.admin.regions.invalidate();
    },
    // No toast: the dialog shows the refusal in place (ReasonDialog's FormError), once.
  });
  return (
    <ReasonDialog
      title={action.title(region.code)}
      description={action.description}
      reasonRequired={status !== "ACTIVE"}
      reasonHint="Shown to tenants next to the region's status."
      danger={action.danger}
      pending={setStatus.isPending}
      error={setStatus.error}
      onConfirm={(reason) => setStatus.mutate({ regionId: region.id, status, reason })}
      onClose={onClose}
    />
  );
}

type CapacityDraft = { key: number; gpuTypeId: string; totalGpus: string; price: string; allocatedGpus: number };
type CertificationDraft = { key: number; name: string; issuer: string; scope: string; validFrom: string; validUntil: string };
type RegionDraft = {
  code: string;
  name: string;
  provider: string;
  country: string;
  city: string;
  jurisdiction: string;
  certifications: string[];
  otherCertifications: string;
  certificationDetails: CertificationDraft[];
  sovereigntyLevel: SovereigntyLevel | "";
  extraterritorialExposure: boolean;
  exposureNote: string;
  onPremises: boolean;
  driverKind: DriverKind;
  driverEndpoint: string;
  carbonIntensityGco2Kwh: string;
  capacities: CapacityDraft[];
};

let nextCapacityKey = 1;

function draftOf(region: Region | null): RegionDraft {
  if (!region) {
    return {
      code: "",
      name: "",
      provider: "",
      country: "",
      city: "",
      jurisdiction: "",
      certifications: [],
      otherCertifications: "",
      certificationDetails: [],
      sovereigntyLevel: "",
      extraterritorialExposure: false,
      exposureNote: "",
      onPremises: false,
      driverKind: "KUBERNETES",
      driverEndpoint: "",
      carbonIntensityGco2Kwh: "",
      capacities: [{ key: nextCapacityKey++, gpuTypeId: "", totalGpus: "", price: "", allocatedGpus: 0 }],
    };
  }
  const known = new Set<string>(KNOWN_CERTIFICATIONS);
  return {
    code: region.code,
    name: region.name,
    provider: region.provider,
    country: region.country,
    city: region.city,
    jurisdiction: region.jurisdiction,
    certifications: region.certifications.filter((c) => known.has(c)),
    otherCertifications: region.certifications.filter((c) => !known.has(c)).join(", "),
    certificationDetails: region.certificationDetails.map((d) => ({
      key: nextCapacityKey++,
      name: d.name,
      issuer: d.issuer,
      scope: d.scope ?? "",
      validFrom: d.validFrom,
      validUntil: d.validUntil ?? "",
    })),
    sovereigntyLevel: region.sovereigntyLevel ?? "",
    extraterritorialExposure: region.extraterritorialExposure,
    exposureNote: region.exposureNote ?? "",
    onPremises: region.onPremises,
    driverKind: region.driverKind,
    driverEndpoint: region.driverEndpoint ?? "",
    carbonIntensityGco2Kwh: String(region.carbonIntensityGco2Kwh),
    capacities: region.capacities.map((c) => ({
      key: nextCapacityKey++,
      gpuTypeId: c.gpuType.id,
      totalGpus: String(c.totalGpus),
      price: centsToEuros(c.priceCentsPerGpuHour),
      allocatedGpus: c.allocatedGpus,
    })),
  };
}

function RegionFormDialog({ region, onClose }: { region: Region | null; onClose: () => void }) {
  const utils = api.useUtils();
  const gpuTypes = api.admin.gpuTypes.useQuery();
  const [draft, setDraft] = useState<RegionDraft>(() => draftOf(region));
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});
  const set = <K extends keyof RegionDraft>(key: K, value: RegionDraft[K]) => setDraft((d) => ({ ...d, [key]: value }));
  const setDetail = (key: number, patch: Partial<CertificationDraft>) =>
    setDraft((d) => ({ ...d, certificationDetails: d.certificationDetails.map((c) => (c.key === key ? { ...c, ...patch } : c)) }));
  const setCapacity = (key: number, patch: Partial<CapacityDraft>) =>
    setDraft((d) => ({ ...d, capacities: d.capacities.map((c) => (c.key === key ? { ...c, ...patch } : c)) }));

  const onSuccess = async (saved: { code: string }) => {
    toast.success(region ? `Region ${saved.code} updated` : `Region ${saved.code} created`);
    onClose();
    await utils.admin.regions.invalidate();
  };
  // Field refusals show beside their field; only the rest as a toast.
  const onError = (e: unknown) => {
    if (Object.keys(fieldErrorsOf(e)).length === 0) toast.error(e instanceof Error ? e.message : "The region was not saved");
  };
  const create = api.admin.createRegion.useMutation({ onSuccess: (_saved, input) => onSuccess(input), onError });
  const update = api.admin.updateRegion.useMutation({ onSuccess: (_saved, input) => onSuccess(input), onError });
  const mutation = region ? update : create;
  const err = formErrors(mutation.error, localErrors);
  const formRef = useRef<HTMLFormElement>(null);
  useFocusFirstInvalid(formRef, mutation.error, Object.keys(localErrors).length > 0 ? localErrors : null);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const problems: Record<string, string> = {};
    const carbon = parseWholeNumber(draft.carbonIntensityGco2Kwh);
    if (carbon === null) problems.carbonIntensityGco2Kwh = "Enter a whole number of grams per kWh";
    const capacities = draft.capacities.map((c, i) => {
      const totalGpus = parseWholeNumber(c.totalGpus);
      const priceCentsPerGpuHour = parseEurosToCents(c.price);
      if (!c.gpuTypeId) problems[`capacities.${i}.gpuTypeId`] = "Choose a GPU type";
      if (totalGpus === null) problems[`capacities.${i}.totalGpus`] = "Enter a whole number of GPUs";
      if (priceCentsPerGpuHour === null) problems[`capacities.${i}.priceCentsPerGpuHour`] = "Enter a price in euros, e.g. 2.95";
      return { gpuTypeId: c.gpuTypeId, totalGpus: totalGpus ?? 0, priceCentsPerGpuHour: priceCentsPerGpuHour ?? 0 };
    });
    // The same schema the server applies, row by row, so messages show next to their field.
    const certificationDetails = draft.certificationDetails.map((c, i) => {
      const parsed = certificationDetailInput.safeParse({ name: c.name, issuer: c.issuer, scope: c.scope, validFrom: c.validFrom, validUntil: c.validUntil || null });
      if (!parsed.success) for (const issue of parsed.error.issues) problems[`certificationDetails.${i}.${issue.path.join(".")}`] ??= issue.message;
      return parsed.success ? parsed.data : { name: c.name, issuer: c.issuer, scope: null, validFrom: c.validFrom, validUntil: null };
    });

    const other = draft.otherCertifications
      .split(",")
      .map((c) => c.trim())
      .filter(Boolean);
    const fields = {
      code: draft.code.trim(),
      name: draft.name.trim(),
      provider: draft.provider.trim(),
      country: draft.country.trim().toUpperCase(),
      city: draft.city.trim(),
      jurisdiction: draft.jurisdiction.trim().toUpperCase(),
      certifications: [...new Set([...draft.certifications, ...other])],
      certificationDetails,
      sovereigntyLevel: draft.sovereigntyLevel || null,
      extraterritorialExposure: draft.extraterritorialExposure,
      exposureNote: draft.exposureNote.trim() || undefined,
      onPremises: draft.onPremises,
      driverKind: draft.driverKind,
      driverEndpoint: draft.driverEndpoint.trim() || undefined,
      carbonIntensityGco2Kwh: carbon ?? 0,
      capacities,
    };
    // The whole form at once, with the server's own schema: every message in one round, not three.
    const checked = regionInput.safeParse(fields);
    if (!checked.success) for (const issue of checked.error.issues) problems[issue.path.join(".")] ??= issue.message;
    setLocalErrors(problems);
    if (Object.keys(problems).length > 0) return;
    if (region) update.mutate({ regionId: region.id, ...fields });
    else create.mutate(fields);
  };

  const chosen = new Set(draft.capacities.map((c) => c.gpuTypeId));
  return (
    <Dialog title={region ? `Edit ${region.code}` : "New region"} onClose={onClose} size="lg">
      <form ref={formRef} onSubmit={submit} noValidate className="space-y-5">
        <div className="grid gap-4 sm:grid-cols-2">
          <Field label="Code" name="code" error={err("code")} hint="Lower case, e.g. fr-par-snc. Tenants see it in their deployments.">
            <Input name="code" value={draft.code} onChange={(e) => set("code", e.target.value)} required autoComplete="off" invalid={!!err("code")} />
          </Field>
          <Field label="Name" name="name" error={err("name")}>
            <Input name="name" value={draft.name} onChange={(e) => set("name", e.target.value)} required invalid={!!err("name")} />
          </Field>
          <Field label="Provider" name="provider" error={err("provider")} hint="The operator of the data centre.">
            <Input name="provider" value={draft.provider} onChange={(e) => set("provider", e.target.value)} required invalid={!!err("provider")} />
          </Field>
          <Field label="City" name="city" error={err("city")}>
            <Input name="city" value={draft.city} onChange={(e) => set("city", e.target.value)} required invalid={!!err("city")} />
          </Field>
          <Field label="Country" name="country" error={err("country")} hint="ISO code, e.g. FR">
            <Input name="country" value={draft.country} onChange={(e) => set("country", e.target.value)} required maxLength={2} autoComplete="off" invalid={!!err("country")} />
          </Field>
          <Field label="Jurisdiction" name="jurisdiction" error={err("jurisdiction")} hint="Two-letter code of the law the operator answers to: FR, DE, EU, US…">
            <Input name="jurisdiction" value={draft.jurisdiction} onChange={(e) => set("jurisdiction", e.target.value)} required maxLength={2} autoComplete="off" invalid={!!err("jurisdiction")} />
          </Field>
        </div>

        <Fieldset legend="Certifications" error={err("certifications")} errorId="certifications-error">
          <div className="flex flex-wrap gap-x-5 gap-y-2">
            {KNOWN_CERTIFICATIONS.map((c) => (
              <Checkbox
                key={c}
                label={c}
                checked={draft.certifications.includes(c)}
                onChange={(e) => set("certifications", e.target.checked ? [...draft.certifications, c] : draft.certifications.filter((x) => x !== c))}
              />
            ))}
          </div>
          <Field label="Other certifications" name="otherCertifications" hint="Comma-separated, e.g. TISAX, BSI IT-Grundschutz">
            <Input name="otherCertifications" value={draft.otherCertifications} onChange={(e) => set("otherCertifications", e.target.value)} />
          </Field>
        </Fieldset>

        <Fieldset
          legend="Certification details"
          hint="Issuer, scope and validity of each certification, shown to tenants on their deployments' evidence. A detailed certification is added to the list above."
          error={groupError(mutation.error, "certificationDetails")}
          errorId="certificationDetails-error"
        >
          <ul className="space-y-3">
            {draft.certificationDetails.map((c, i) => {
              const name = (field: string) => `certificationDetails.${i}.${field}`;
              return (
                <li key={c.key} className="rounded-md border border-slate-200 p-3">
                  <fieldset>
                    <legend className="sr-only">Certification details {i + 1}</legend>
                    <div className="grid gap-3 sm:grid-cols-2">
                      <Field label="Certification" name={name("name")} error={err(name("name"))} hint="As residency policies name it, e.g. SecNumCloud">
                        <Input name={name("name")} value={c.name} onChange={(e) => setDetail(c.key, { name: e.target.value })} list="known-certifications" autoComplete="off" invalid={!!err(name("name"))} />
                      </Field>
                      <Field label="Issuer" name={name("issuer")} error={err(name("issuer"))} hint="Who issued or attested it, e.g. ANSSI">
                        <Input name={name("issuer")} value={c.issuer} onChange={(e) => setDetail(c.key, { issuer: e.target.value })} invalid={!!err(name("issuer"))} />
                      </Field>
                      <Field label="Scope" name={name("scope")} error={err(name("scope"))} hint="Which services and sites it covers">
                        <Input name={name("scope")} value={c.scope} onChange={(e) => setDetail(c.key, { scope: e.target.value })} invalid={!!err(name("scope"))} />
                      </Field>
                      <div className="grid grid-cols-2 gap-3">
                        <Field label="Valid from" name={name("validFrom")} error={err(name("validFrom"))}>
                          <Input type="date" name={name("validFrom")} value={c.validFrom} onChange={(e) => setDetail(c.key, { validFrom: e.target.value })} invalid={!!err(name("validFrom"))} />
                        </Field>
                        <Field label="Valid until" name={name("validUntil")} error={err(name("validUntil"))} hint="Empty: no end date">
                          <Input type="date" name={name("validUntil")} value={c.validUntil} onChange={(e) => setDetail(c.key, { validUntil: e.target.value })} invalid={!!err(name("validUntil"))} />
                        </Field>
                      </div>
                    </div>
                    <Button
                      type="button"
                      variant="ghost"
                      className="mt-2"
                      aria-label={`Remove certification details ${i + 1}`}
                      onClick={() => {
                        setDraft((d) => ({ ...d, certificationDetails: d.certificationDetails.filter((x) => x.key !== c.key) }));
                        mutation.reset();
                        setLocalErrors({});
                      }}
                    >
                      Remove
                    </Button>
                  </fieldset>
                </li>
              );
            })}
          </ul>
          <datalist id="known-certifications">
            {KNOWN_CERTIFICATIONS.map((c) => (
              <option key={c} value={c} />
            ))}
          </datalist>
          <Button
            type="button"
            variant="secondary"
            onClick={() =>
              setDraft((d) => ({ ...d, certificationDetails: [...d.certificationDetails, { key: nextCapacityKey++, name: "", issuer: "", scope: "", validFrom: "", validUntil: "" }] }))
            }
          >
            Add certification details
          </Button>
          <Field
            label="EU Cloud Sovereignty Framework level"
            name="sovereigntyLevel"
            error={err("sovereigntyLevel")}
            hint="SEAL-0 (no sovereignty) to SEAL-4 (full digital sovereignty), as you assessed the region; leave unset if not assessed."
          >
            <Select name="sovereigntyLevel" value={draft.sovereigntyLevel} onChange={(e) => set("sovereigntyLevel", e.target.value as SovereigntyLevel | "")} invalid={!!err("sovereigntyLevel")}>
              <option value="">Not assessed</option>
              {SOVEREIGNTY_LEVELS.map((level) => (
                <option key={level} value={level}>
                  {sealLabel(level)}
                </option>
              ))}
            </Select>
          </Field>
        </Fieldset>

        <Fieldset legend="Exposure to non-EU law">
          <Checkbox
            label="Extraterritorial exposure"
            hint="The operator is subject to non-EU law with extraterritorial reach (e.g. the US CLOUD Act)."
            checked={draft.extraterritorialExposure}
            onChange={(e) => set("extraterritorialExposure", e.target.checked)}
          />
          <Field label="Exposure note" name="exposureNote" error={err("exposureNote")} hint="Shown to tenants choosing a region; say which law applies and why.">
            <Textarea name="exposureNote" value={draft.exposureNote} onChange={(e) => set("exposureNote", e.target.value)} invalid={!!err("exposureNote")} />
          </Field>
          <Checkbox label="On premises" hint="Hardware in the customer's or our own premises rather than a provider's data centre." checked={draft.onPremises} onChange={(e) => set("onPremises", e.target.checked)} />
        </Fieldset>

        <div className="grid gap-4 sm:grid-cols-3">
          <Field label="Driver" name="driverKind" error={err("driverKind")}>
            <Select name="driverKind" value={draft.driverKind} onChange={(e) => set("driverKind", e.target.value as DriverKind)} invalid={!!err("driverKind")}>
              {(Object.keys(DRIVER_LABELS) as DriverKind[]).map((k) => (
                <option key={k} value={k}>
                  {DRIVER_LABELS[k]}
                </option>
              ))}
            </Select>
          </Field>
          <Field label="Driver endpoint" name="driverEndpoint" error={err("driverEndpoint")} hint="Where the driver reaches the cluster. Not needed for the local driver.">
            <Input name="driverEndpoint" value={draft.driverEndpoint} onChange={(e) => set("driverEndpoint", e.target.value)} inputMode="url" autoComplete="off" invalid={!!err("driverEndpoint")} />
          </Field>
          <Field label="Carbon intensity (gCO₂/kWh)" name="carbonIntensityGco2Kwh" error={err("carbonIntensityGco2Kwh")}>
            <Input
              name="carbonIntensityGco2Kwh"
              value={draft.carbonIntensityGco2Kwh}
              onChange={(e) => set("carbonIntensityGco2Kwh", e.target.value)}
              inputMode="numeric"
              required
              invalid={!!err("carbonIntensityGco2Kwh")}
            />
          </Field>
        </div>

        <Fieldset legend="GPU capacity" hint="GPUs available to tenants in this region, and the price of a GPU-hour." error={groupError(mutation.error, "capacities")} errorId="capacities-error">
          {draft.capacities.length === 0 && <p className="text-sm text-slate-600">No GPUs: tenants cannot deploy here until you add capacity.</p>}
          <ul className="space-y-3">
            {draft.capacities.map((c, i) => {
              const gpuTypeName = `capacities.${i}.gpuTypeId`;
              const totalName = `capacities.${i}.totalGpus`;
              const priceName = `capacities.${i}.priceCentsPerGpuHour`;
              const rowError = err(`capacities.${i}`);
              return (
                <li key={c.key} className="rounded-md border border-slate-200 p-3">
                  <fieldset>
                    <legend className="sr-only">Capacity {i + 1}</legend>
                    <div className="grid gap-3 sm:grid-cols-[1fr_8rem_10rem_auto] sm:items-start">
                      <Field label="GPU type" name={gpuTypeName} error={err(gpuTypeName)}>
                        <Select name={gpuTypeName} value={c.gpuTypeId} onChange={(e) => setCapacity(c.key, { gpuTypeId: e.target.value })} invalid={!!err(gpuTypeName)}>
                          <option value="">{gpuTypes.isLoading ? "Loading…" : "Choose…"}</option>
                          {gpuTypes.data?.map((g) => (
                            <option key={g.id} value={g.id} disabled={g.id !== c.gpuTypeId && chosen.has(g.id)}>
                              {g.code} · {g.name}
                            </option>
                          ))}
                        </Select>
                      </Field>
                      <Field label="Total GPUs" name={totalName} error={err(totalName)} hint={c.allocatedGpus > 0 ? `${c.allocatedGpus} allocated` : undefined}>
                        <Input name={totalName} value={c.totalGpus} onChange={(e) => setCapacity(c.key, { totalGpus: e.target.value })} inputMode="numeric" invalid={!!err(totalName)} />
                      </Field>
                      <Field label="Price (€ per GPU-hour)" name={priceName} error={err(priceName)}>
                        <Input name={priceName} value={c.price} onChange={(e) => setCapacity(c.key, { price: e.target.value })} inputMode="decimal" placeholder="2.95" invalid={!!err(priceName)} />
                      </Field>
                      <div className="sm:pt-6">
                        <Button
                          type="button"
                          variant="ghost"
                          aria-label={`Remove capacity ${i + 1}`}
                          onClick={() => {
                            setDraft((d) => ({ ...d, capacities: d.capacities.filter((x) => x.key !== c.key) }));
                            // Messages are keyed by row index, which just shifted.
                            mutation.reset();
                            setLocalErrors({});
                          }}
                        >
                          Remove
                        </Button>
                      </div>
                    </div>
                    {rowError && (
                      <p role="alert" className="mt-1 text-xs font-medium text-red-700">
                        {rowError}
                      </p>
                    )}
                  </fieldset>
                </li>
              );
            })}
          </ul>
          {gpuTypes.error && <p className="text-sm text-red-700">Could not load GPU types: {gpuTypes.error.message}</p>}
          <Button
            type="button"
            variant="secondary"
            onClick={() => setDraft((d) => ({ ...d, capacities: [...d.capacities, { key: nextCapacityKey++, gpuTypeId: "", totalGpus: "", price: "", allocatedGpus: 0 }] }))}
          >
            Add GPU type
          </Button>
        </Fieldset>

        <FormError error={mutation.error} hidden={err.shownAny() || !!groupError(mutation.error, "capacities") || !!groupError(mutation.error, "certificationDetails")} />
        <DialogActions>
          <Button type="button" variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" loading={mutation.isPending}>
            {region ? "Save region" : "Create region"}
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
