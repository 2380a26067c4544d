"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from "react";
import { toast } from "sonner";
import { DEPLOYMENT_NAME, REPLICA_LIMIT, type DataClassification } from "@/lib/limits";
import { roleAtLeast } from "@/lib/roles";
import { deploymentName, replicaCount } from "@/lib/schemas";
import { TokenPrices } from "../budgets/token-prices";
import { formatEur, formatNumber, formatParameters } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { ButtonLink } from "../ui/button-link";
import { Field, Input, fieldErrorsOf } from "../ui/form";
import { Badge, Card, PageHeader } from "../ui/layout";
import { EmptyState, LoadingState, QueryView } from "../ui/states";
import { DATA_CLASSES, dataClassLabel } from "./phase";

type CatalogModel = RouterOutputs["catalog"]["list"][number];
type RegionOption = RouterOutputs["deployments"]["options"][number];
type GpuOption = RegionOption["gpuOptions"][number];
type CreateField = "catalogModelId" | "dataClassification" | "regionId" | "gpuTypeId" | "replicas" | "minReplicas" | "maxReplicas" | "name";

const STEPS = [
  { title: "Model", fields: ["catalogModelId"] },
  { title: "Data classification", fields: ["dataClassification"] },
  { title: "Region", fields: ["regionId"] },
  { title: "GPUs", fields: ["gpuTypeId"] },
  { title: "Replicas", fields: ["replicas", "minReplicas", "maxReplicas"] },
  { title: "Name & review", fields: ["name"] },
] as const satisfies readonly { title: string; fields: readonly CreateField[] }[];
const LAST_STEP = STEPS.length - 1;

const HOURS_PER_MONTH = 730;

interface Choices {
  catalogModelId: string | null;
  dataClassification: DataClassification | null;
  regionId: string | null;
  gpuTypeId: string | null;
  replicas: string;
  minReplicas: string;
  /** null until the user types one: what fits in the free quota stands in. */
  maxReplicas: string | null;
  /** null until the user types one: the suggestion from the model's slug stands in. */
  name: string | null;
}

const INITIAL: Choices = { catalogModelId: null, dataClassification: null, regionId: null, gpuTypeId: null, replicas: "1", minReplicas: "1", maxReplicas: null, name: null };

/** A free, valid deployment name from the model's slug: "llama-3.1-8b-instruct" → "llama-3-1-8b-instruct", then "-2", "-3"… */
export function suggestDeploymentName(slug: string, taken: ReadonlySet<string>): string {
  const cleaned = slug
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    // Room for a "-NN" suffix within the length limit.
    .slice(0, DEPLOYMENT_NAME.maxLength - 4)
    .replace(/^-+|-+$/g, "");
  const base = cleaned.length >= 2 ? cleaned : "model";
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

// The server's own schemas (lib/schemas.ts), checked here to answer at once, with its messages.
function nameError(name: string): string | undefined {
  const result = deploymentName.safeParse(name);
  return result.success ? undefined : result.error.issues[0]?.message;
}

const REPLICA_SCHEMAS = { replicas: replicaCount("Replicas"), minReplicas: replicaCount("Minimum replicas"), maxReplicas: replicaCount("Maximum replicas") };

function parseCount(field: keyof typeof REPLICA_SCHEMAS, raw: string): number | string {
  if (raw.trim() === "") return "Enter a number";
  const result = REPLICA_SCHEMAS[field].safeParse(Number(raw));
  return result.success ? result.data : (result.error.issues[0]?.message ?? "Enter a whole number");
}

type ReplicaCheck = { ok: true; replicas: number; minReplicas: number; maxReplicas: number; errors: Partial<Record<"replicas" | "minReplicas" | "maxReplicas", string>> } | { ok: false; errors: Partial<Record<"replicas" | "minReplicas" | "maxReplicas", string>> };

/** The upper scaling bound offered by default: as many replicas as the free quota and region hold now. */
const defaultMaxReplicas = (gpu: GpuOption | undefined) => String(Math.min(REPLICA_LIMIT, Math.max(1, gpu?.maxReplicas ?? 1)));

function checkReplicas(c: Choices, gpu: GpuOption | undefined): ReplicaCheck {
  const replicas = parseCount("replicas", c.replicas);
  const minReplicas = parseCount("minReplicas", c.minReplicas);
  const maxReplicas = parseCount("maxReplicas", c.maxReplicas ?? defaultMaxReplicas(gpu));
  const errors: Partial<Record<"replicas" | "minReplicas" | "maxReplicas", string>> = {};
  if (typeof replicas === "string") errors.replicas = replicas;
  if (typeof minReplicas === "string") errors.minReplicas = minReplicas;
  if (typeof maxReplicas === "string") errors.maxReplicas = maxReplicas;
  if (typeof replicas !== "number" || typeof minReplicas !== "number" || typeof maxReplicas !== "number") return { ok: false, errors };
  if (minReplicas > maxReplicas) errors.maxReplicas = `The maximum cannot be below the minimum (${minReplicas})`;
  else if (replicas < minReplicas) errors.replicas = `Start with at least the minimum (${minReplicas})`;
  else if (replicas > maxReplicas) errors.replicas = `Start with at most the maximum (${maxReplicas})`;
  else if (gpu && replicas > gpu.maxReplicas) {
    errors.replicas = `Only ${gpu.maxReplicas} replica${gpu.maxReplicas === 1 ? "" : "s"} fit here: ${gpu.quotaFree} GPU(s) of your quota and ${gpu.regionFree} in the region are free, ${gpu.gpusPerReplica} needed per replica`;
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, replicas, minReplicas, maxReplicas, errors };
}

const cheapest = (options: GpuOption[]) => {
  const usable = options.filter((g) => !g.refusal);
  const prices = (usable.length > 0 ? usable : options).map((g) => g.pricePerReplicaHourEur);
  return prices.length > 0 ? Math.min(...prices) : null;
};

export function NewDeploymentWizard() {
  const org = useCurrentOrg();
  if (!roleAtLeast(org.role, "MEMBER")) {
    return (
      <>
        <PageHeader title="New deployment" />
        <EmptyState title="Viewers cannot deploy models" action={<ButtonLink variant="secondary" href={`/o/${org.slug}/deployments`}>Back to deployments</ButtonLink>}>
          Ask an admin of {org.name} for the Member role to deploy catalog models.
        </EmptyState>
      </>
    );
  }
  return <Wizard />;
}

function Wizard() {
  const org = useCurrentOrg();
  const router = useRouter();
  const utils = api.useUtils();
  const [step, setStep] = useState(0);
  const [choices, setChoices] = useState<Choices>(INITIAL);
  // Messages for a step appear once the user tried to leave it, not while they are still choosing.
  const [attempted, setAttempted] = useState<ReadonlySet<number>>(new Set());
  const headingRef = useRef<HTMLHeadingElement>(null);
  const firstRender = useRef(true);

  const catalog = api.catalog.list.useQuery();
  const existing = api.deployments.list.useQuery({ orgId: org.id, limit: 200 });
  const options = api.deployments.options.useQuery(
    { orgId: org.id, catalogModelId: choices.catalogModelId ?? "", dataClassification: choices.dataClassification ?? "INTERNAL" },
    { enabled: Boolean(choices.catalogModelId && choices.dataClassification) },
  );
  const create = api.deployments.create.useMutation({
    onSuccess: async (d) => {
      toast.success(`Deployment ${d.name} created`);
      await utils.deployments.list.invalidate({ orgId: org.id });
      router.push(`/o/${org.slug}/deployments/${d.id}`);
    },
    // No toast: the review step shows the refusal in place, with a link to the step at fault.
  });

  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    // Keyboard and screen-reader users land on the new step, not on a button that moved.
    headingRef.current?.focus();
  }, [step]);

  const model = catalog.data?.find((m) => m.id === choices.catalogModelId);
  const region = options.data?.find((o) => o.region.id === choices.regionId && o.allowed);
  const gpu = region?.gpuOptions.find((g) => g.gpuTypeId === choices.gpuTypeId && !g.refusal);
  const replicaCheck = checkReplicas(choices, gpu);
  const taken = new Set((existing.data?.items ?? []).map((d) => d.name));
  const name = choices.name ?? (model ? suggestDeploymentName(model.slug, taken) : "");
  const clientNameError = nameError(name);
  const server = fieldErrorsOf(create.error);
  const serverError = (field: CreateField) => server[field]?.[0];

  const stepValid = [Boolean(model), Boolean(choices.dataClassification), Boolean(region), Boolean(gpu), replicaCheck.ok, !clientNameError];
  const reachable = (() => {
    const firstInvalid = stepValid.findIndex((ok) => !ok);
    return firstInvalid === -1 ? LAST_STEP : firstInvalid;
  })();

  function update(patch: Partial<Choices>) {
    setChoices((c) => ({ ...c, ...patch }));
    // A server message about an earlier attempt no longer describes what is on screen.
    if (create.error) create.reset();
  }

  function goTo(target: number) {
    setStep(Math.max(0, Math.min(LAST_STEP, target)));
  }

  function next() {
    setAttempted((a) => new Set(a).add(step));
    if (!stepValid[step]) return;
    goTo(step + 1);
  }

  function deploy() {
    setAttempted((a) => new Set(a).add(LAST_STEP));
    const invalid = stepValid.findIndex((ok) => !ok);
    if (invalid !== -1) {
      if (invalid !== LAST_STEP) goTo(invalid);
      return;
    }
    if (!replicaCheck.ok || !model || !choices.dataClassification || !region || !gpu) return;
    create.mutate({
      orgId: org.id,
      name: name.trim(),
      catalogModelId: model.id,
      dataClassification: choices.dataClassification,
      regionId: region.region.id,
      gpuTypeId: gpu.gpuTypeId,
      replicas: replicaCheck.replicas,
      minReplicas: replicaCheck.minReplicas,
      maxReplicas: replicaCheck.maxReplicas,
    });
  }

  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (step === LAST_STEP) deploy();
    else next();
  }

  const showErrors = attempted.has(step);
  const pricePerHour = gpu && replicaCheck.ok ? gpu.pricePerReplicaHourEur * replicaCheck.replicas : null;

  return (
    <>
      <PageHeader
        title="New deployment"
        description="Choose a catalog model, say what data it will process, and place it where your residency policy allows."
      />
      <Stepper step={step} reachable={reachable} onSelect={goTo} />
      <form onSubmit={onSubmit} noValidate className="mt-4">
        <Card>
          <h2 ref={headingRef} tabIndex={-1} className="mb-1 text-lg font-semibold focus:outline-none">
            {STEPS[step].title}
          </h2>
          {step === 0 && (
            <ModelStep
              catalog={catalog}
              selected={choices.catalogModelId}
              error={(showErrors && !model ? "Choose a model to continue" : undefined) ?? serverError("catalogModelId")}
              onSelect={(id) => update({ catalogModelId: id, gpuTypeId: null })}
            />
          )}
          {step === 1 && (
            <DataClassStep
              selected={choices.dataClassification}
              error={(showErrors && !choices.dataClassification ? "Choose how sensitive the data is" : undefined) ?? serverError("dataClassification")}
              onSelect={(value) => update({ dataClassification: value })}
            />
          )}
          {step === 2 && (
            <RegionStep
              options={options}
              orgSlug={org.slug}
              dataClassification={choices.dataClassification}
              selected={region?.region.id ?? null}
              error={(showErrors && !region ? "Choose one of the allowed regions" : undefined) ?? serverError("regionId")}
              onSelect={(option) => {
                const usable = option.gpuOptions.filter((g) => !g.refusal);
                const keep = usable.some((g) => g.gpuTypeId === choices.gpuTypeId);
                update({ regionId: option.region.id, gpuTypeId: keep ? choices.gpuTypeId : usable.length === 1 ? usable[0].gpuTypeId : null });
              }}
            />
          )}
          {step > reachable && <MissingChoice reachable={reachable} onGoTo={goTo} />}
          {step === 3 && region && (
            <GpuStep
              region={region}
              selected={gpu?.gpuTypeId ?? null}
              error={(showErrors && !gpu ? "Choose a GPU type that is available" : undefined) ?? serverError("gpuTypeId")}
              onSelect={(id) => update({ gpuTypeId: id })}
            />
          )}
          {step === 4 && gpu && (
            <ReplicasStep
              choices={choices}
              gpu={gpu}
              errors={{
                replicas: replicaCheck.errors.replicas ?? serverError("replicas"),
                minReplicas: replicaCheck.errors.minReplicas ?? serverError("minReplicas"),
                maxReplicas: replicaCheck.errors.maxReplicas ?? serverError("maxReplicas"),
              }}
              pricePerHour={pricePerHour}
              onChange={update}
            />
          )}
          {step === LAST_STEP && model && choices.dataClassification && region && gpu && replicaCheck.ok && (
            <ReviewStep
              name={name}
              nameError={((showErrors || choices.name !== null) && clientNameError) || serverError("name")}
              onNameChange={(value) => update({ name: value })}
              model={model}
              dataClassification={choices.dataClassification}
              region={region}
              gpu={gpu}
              replicas={replicaCheck}
              pricePerHour={pricePerHour ?? 0}
              serverError={create.error}
              fieldErrorStep={STEPS.findIndex((s, i) => i !== LAST_STEP && s.fields.some((f) => serverError(f)))}
              onGoTo={goTo}
            />
          )}
        </Card>
        <div className="mt-4 flex flex-col-reverse gap-2 sm:flex-row sm:items-center sm:justify-between">
          {step === 0 ? (
            <Link href={`/o/${org.slug}/deployments`} className="px-3 py-2 text-center text-sm font-medium text-slate-700 underline-offset-2 hover:underline">
              Cancel
            </Link>
          ) : (
            <Button type="button" variant="secondary" onClick={() => goTo(step - 1)} disabled={create.isPending}>
              Back
            </Button>
          )}
          {step < LAST_STEP ? (
            <Button type="submit">Next</Button>
          ) : (
            <Button type="submit" loading={create.isPending || create.isSuccess}>
              Deploy
            </Button>
          )}
        </div>
      </form>
    </>
  );
}

/** The steps, each a button once it can be reached (every step before it is complete). */
function Stepper({ step, reachable, onSelect }: { step: number; reachable: number; onSelect: (step: number) => void }) {
  return (
    <nav aria-label="Progress">
      <p className="mb-2 text-sm text-slate-600 sm:hidden">
        Step {step + 1} of {STEPS.length}: <span className="font-medium text-slate-800">{STEPS[step].title}</span>
      </p>
      <ol className="grid grid-cols-6 gap-1 sm:gap-2">
        {STEPS.map((s, i) => {
          const state = i === step ? "current" : i < step ? "done" : "todo";
          const content = (
            <>
              <span
                aria-hidden
                className={`flex h-6 w-6 shrink-0 items-center justify-center rounded-full text-xs font-semibold ${
                  state === "current" ? "bg-brand-600 text-white" : state === "done" ? "bg-brand-100 text-brand-700" : "bg-slate-200 text-slate-600"
                }`}
              >
                {state === "done" ? "✓" : i + 1}
              </span>
              <span className="sr-only">Step {i + 1}: </span>
              <span className="hidden truncate sm:inline">{s.title}</span>
              <span className="sr-only sm:hidden">{s.title}</span>
              {state === "done" && <span className="sr-only"> (done)</span>}
            </>
          );
          const bar = `h-1 rounded-full ${i <= step ? "bg-brand-600" : "bg-slate-200"}`;
          const body = "flex min-w-0 items-center gap-2 pt-2 text-left text-xs font-medium sm:text-sm";
          return (
            <li key={s.title} aria-current={i === step ? "step" : undefined} className="min-w-0">
              <div className={bar} aria-hidden />
              {i !== step && i <= reachable ? (
                <button type="button" onClick={() => onSelect(i)} className={`${body} w-full rounded text-slate-700 hover:text-brand-700`}>
                  {content}
                </button>
              ) : (
                <div className={`${body} ${i === step ? "text-brand-700" : "text-slate-500"}`}>{content}</div>
              )}
            </li>
          );
        })}
      </ol>
    </nav>
  );
}

/** Shown when an earlier choice stopped being valid (a region's quota ran out meanwhile, say). */
function MissingChoice({ reachable, onGoTo }: { reachable: number; onGoTo: (step: number) => void }) {
  return (
    <div role="status" className="rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900">
      An earlier choice is missing or no longer available.{" "}
      <button type="button" onClick={() => onGoTo(reachable)} className="font-medium underline">
        Go to {STEPS[reachable].title}
      </button>
    </div>
  );
}

function StepError({ id, message }: { id: string; message?: string }) {
  if (!message) return null;
  return (
    <p id={id} role="alert" className="mt-3 text-sm font-medium text-red-700">
      {message}
    </p>
  );
}

/** A card that is one option of a radio group: a real radio input, the whole card its click target. */
function RadioCard({
  name,
  value,
  checked,
  disabled,
  onSelect,
  label,
  details,
  className = "",
}: {
  name: string;
  value: string;
  checked: boolean;
  disabled?: boolean;
  onSelect: () => void;
  /** The accessible name of the radio: keep it to what the option is called. */
  label: ReactNode;
  details?: ReactNode;
  className?: string;
}) {
  const labelId = useId();
  const detailsId = useId();
  return (
    <label
      className={`flex gap-3 rounded-lg border p-3 transition-colors sm:p-4 ${
        disabled
          ? "cursor-not-allowed border-slate-200 bg-slate-50 text-slate-500"
          : checked
            ? "cursor-pointer border-brand-600 bg-brand-50 ring-1 ring-brand-600"
            : "cursor-pointer border-slate-200 bg-white hover:border-slate-300"
      } ${className}`}
    >
      <input
        type="radio"
        name={name}
        value={value}
        checked={checked}
        disabled={disabled}
        onChange={onSelect}
        aria-labelledby={labelId}
        aria-describedby={details ? detailsId : undefined}
        className="mt-1 h-4 w-4 shrink-0 accent-brand-600"
      />
      <span className="min-w-0 flex-1">
        <span id={labelId} className={`block font-medium ${disabled ? "text-slate-600" : "text-slate-900"}`}>
          {label}
        </span>
        {details && (
          <span id={detailsId} className="mt-1 block text-sm">
            {details}
          </span>
        )}
      </span>
    </label>
  );
}

function ModelStep({
  catalog,
  selected,
  error,
  onSelect,
}: {
  catalog: { data: CatalogModel[] | undefined; isLoading: boolean; error: { message: string } | null; refetch: () => unknown };
  selected: string | null;
  error?: string;
  onSelect: (id: string) => void;
}) {
  const errorId = useId();
  return (
    <>
      <p className="mb-4 text-sm text-slate-600">Models from the platform catalog, with their licence and where they come from.</p>
      <QueryView query={catalog}>
        {(models) =>
          models.length === 0 ? (
            <EmptyState title="The catalog is empty">The platform has not published any model yet.</EmptyState>
          ) : (
            <fieldset aria-describedby={error ? errorId : undefined}>
              <legend className="sr-only">Model</legend>
              <div className="grid gap-3 md:grid-cols-2">
                {models.map((m) => (
                  <RadioCard
                    key={m.id}
                    name="catalogModelId"
                    value={m.id}
                    checked={selected === m.id}
                    onSelect={() => onSelect(m.id)}
                    label={m.name}
                    details={
                      <>
                        <span className="block text-slate-600">
                          Version {m.version} · {formatParameters(m.parameterCount)} parameters · {formatNumber(m.contextLength)}-token context
                        </span>
                        <span className="mt-1.5 flex flex-wrap gap-1">
                          <Badge>{m.license}</Badge>
                          {m.openWeights && <Badge tone="good">Open weights</Badge>}
                          {m.openData && <Badge tone="good">Open data</Badge>}
                        </span>
                        <span className="mt-1.5 block text-slate-600">{m.origin}</span>
                        <span className="block text-xs text-slate-500">
                          Needs {m.gpuMemoryGb} GB of GPU memory{m.minGpuCount > 1 ? `, at least ${m.minGpuCount} GPUs` : ""}
                        </span>
                        <span className="block text-xs text-slate-600">
                          Per million tokens: <TokenPrices input={m.inputEurPerMillionTokens} output={m.outputEurPerMillionTokens} />
                          {m.inputEurPerMillionTokens || m.outputEurPerMillionTokens ? ", plus GPU time" : ""}
                        </span>
                        {m.description && <span className="mt-1.5 block text-xs text-slate-500">{m.description}</span>}
                      </>
                    }
                  />
                ))}
              </div>
            </fieldset>
          )
        }
      </QueryView>
      <StepError id={errorId} message={error} />
    </>
  );
}

function DataClassStep({ selected, error, onSelect }: { selected: DataClassification | null; error?: string; onSelect: (value: DataClassification) => void }) {
  const errorId = useId();
  return (
    <>
      <p className="mb-4 text-sm text-slate-600">
        What the model will read and write. Your organisation&apos;s residency policy for this class decides which regions you may use next.
      </p>
      <fieldset aria-describedby={error ? errorId : undefined}>
        <legend className="sr-only">Data classification</legend>
        <div className="grid gap-3 sm:grid-cols-2">
          {DATA_CLASSES.map((c) => (
            <RadioCard
              key={c.value}
              name="dataClassification"
              value={c.value}
              checked={selected === c.value}
              onSelect={() => onSelect(c.value)}
              label={c.label}
              details={<span className="text-slate-600">{c.explanation}</span>}
            />
          ))}
        </div>
      </fieldset>
      <StepError id={errorId} message={error} />
    </>
  );
}

function RegionStep({
  options,
  orgSlug,
  dataClassification,
  selected,
  error,
  onSelect,
}: {
  options: { data: RegionOption[] | undefined; isLoading: boolean; error: { message: string } | null; refetch: () => unknown };
  orgSlug: string;
  dataClassification: DataClassification | null;
  selected: string | null;
  error?: string;
  onSelect: (option: RegionOption) => void;
}) {
  const errorId = useId();
  return (
    <>
      <p className="mb-4 text-sm text-slate-600">
        Regions your policy allows for {dataClassification ? <strong>{dataClassLabel(dataClassification).toLowerCase()}</strong> : "this"} data. The others are shown with the reason they are refused.
      </p>
      <QueryView query={options} loading={<LoadingState label="Checking regions…" rows={4} />}>
        {(list) => {
          const sorted = [...list].sort((a, b) => Number(b.allowed) - Number(a.allowed));
          return (
            <>
              {!list.some((o) => o.allowed) && (
                <div role="status" className="mb-3 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900">
                  No region can take this model for {dataClassification ? dataClassLabel(dataClassification).toLowerCase() : "this"} data. Choose another classification, or see your{" "}
                  <Link className="font-medium underline" href={`/o/${orgSlug}/compliance`}>residency policy</Link> and{" "}
                  <Link className="font-medium underline" href={`/o/${orgSlug}/quotas`}>quotas</Link>.
                </div>
              )}
              <fieldset aria-describedby={error ? errorId : undefined}>
                <legend className="sr-only">Region</legend>
                <div className="grid gap-3 md:grid-cols-2">
                  {sorted.map((o) => {
                    const price = cheapest(o.gpuOptions);
                    return (
                      <RadioCard
                        key={o.region.id}
                        name="regionId"
                        value={o.region.id}
                        checked={selected === o.region.id}
                        disabled={!o.allowed}
                        onSelect={() => onSelect(o)}
                        label={o.region.name}
                        details={
                          <>
                            <span className="block text-slate-600">
                              {o.region.code} · jurisdiction {o.region.jurisdiction} · {formatNumber(o.region.carbonIntensityGco2Kwh)} gCO₂/kWh
                              {price !== null && <> · from {formatEur(price)}/h per replica</>}
                            </span>
                            {(o.region.certifications.length > 0 || o.region.extraterritorialExposure || !o.region.connected) && (
                              <span className="mt-1.5 flex flex-wrap gap-1">
                                {!o.region.connected && <Badge tone="bad">Not connected</Badge>}
                                {o.region.certifications.map((c) => (
                                  <Badge key={c} tone="info">{c}</Badge>
                                ))}
                                {o.region.extraterritorialExposure && <Badge tone="warn">Extraterritorial law exposure</Badge>}
                              </span>
                            )}
                            {!o.allowed && (
                              <span className="mt-2 block space-y-0.5 text-xs text-red-800">
                                <span className="sr-only">Not available: </span>
                                {o.reasons.map((r) => (
                                  <span key={r} className="block">
                                    <span aria-hidden>• </span>
                                    {r}
                                  </span>
                                ))}
                              </span>
                            )}
                          </>
                        }
                      />
                    );
                  })}
                </div>
              </fieldset>
            </>
          );
        }}
      </QueryView>
      <StepError id={errorId} message={error} />
    </>
  );
}

function GpuStep({ region, selected, error, onSelect }: { region: RegionOption; selected: string | null; error?: string; onSelect: (gpuTypeId: string) => void }) {
  const errorId = useId();
  return (
    <>
      <p className="mb-4 text-sm text-slate-600">
        GPU types in {region.region.name} that the model fits. Each replica gets the GPUs it needs for the weights.
      </p>
      <fieldset aria-describedby={error ? errorId : undefined}>
        <legend className="sr-only">GPU type</legend>
        <div className="grid gap-3 md:grid-cols-2">
          {region.gpuOptions.map((g) => (
            <RadioCard
              key={g.gpuTypeId}
              name="gpuTypeId"
              value={g.gpuTypeId}
              checked={selected === g.gpuTypeId}
              disabled={Boolean(g.refusal)}
              onSelect={() => onSelect(g.gpuTypeId)}
              label={
                <>
                  {g.gpuTypeName} <span className="text-xs font-normal text-slate-500">{g.gpuTypeCode}</span>
                </>
              }
              details={
                <>
                  <span className="block text-slate-700">
                    {g.gpusPerReplica} GPU{g.gpusPerReplica === 1 ? "" : "s"} per replica · <strong>{formatEur(g.pricePerReplicaHourEur)}</strong> per replica-hour
                  </span>
                  <span className="block text-xs text-slate-500">
                    Your quota: {g.quotaFree} free · region: {g.regionFree} free{!g.refusal && ` · up to ${g.maxReplicas} replica${g.maxReplicas === 1 ? "" : "s"}`}
                  </span>
                  {g.refusal && <span className="mt-1 block text-xs font-medium text-red-800">{g.refusal}</span>}
                </>
              }
            />
          ))}
        </div>
      </fieldset>
      <StepError id={errorId} message={error} />
    </>
  );
}

function ReplicasStep({
  choices,
  gpu,
  errors,
  pricePerHour,
  onChange,
}: {
  choices: Choices;
  gpu: GpuOption;
  errors: Partial<Record<"replicas" | "minReplicas" | "maxReplicas", string>>;
  pricePerHour: number | null;
  onChange: (patch: Partial<Choices>) => void;
}) {
  const count = (field: "replicas" | "minReplicas" | "maxReplicas", label: string, hint: string) => (
    <Field label={label} name={field} error={errors[field]} hint={hint}>
      <Input
        name={field}
        type="number"
        inputMode="numeric"
        min={1}
        max={field === "replicas" ? Math.min(REPLICA_LIMIT, Math.max(1, gpu.maxReplicas)) : REPLICA_LIMIT}
        step={1}
        value={field === "maxReplicas" ? (choices.maxReplicas ?? defaultMaxReplicas(gpu)) : choices[field]}
        onChange={(e) => onChange({ [field]: e.target.value })}
        invalid={Boolean(errors[field])}
        required
      />
    </Field>
  );
  return (
    <>
      <p className="mb-4 text-sm text-slate-600">
        How many copies of the model serve requests. Each replica takes {gpu.gpusPerReplica} {gpu.gpuTypeCode} GPU{gpu.gpusPerReplica === 1 ? "" : "s"}; up to{" "}
        {gpu.maxReplicas} fit in your free quota here.
      </p>
      <div className="grid gap-4 sm:grid-cols-3">
        {count("replicas", "Replicas", "Started now")}
        {count("minReplicas", "Minimum", "Scaling never goes below")}
        {count("maxReplicas", "Maximum", "Scaling never goes above")}
      </div>
      <p className="mt-4 text-sm text-slate-600" aria-live="polite">
        {pricePerHour !== null ? (
          <>
            <strong className="text-slate-900">{formatEur(pricePerHour)}</strong> per hour while running ({formatEur(gpu.pricePerReplicaHourEur)} × {choices.replicas} replica
            {choices.replicas === "1" ? "" : "s"}).
          </>
        ) : (
          "Fix the numbers above to see the price."
        )}
      </p>
    </>
  );
}

function ReviewStep({
  name,
  nameError,
  onNameChange,
  model,
  dataClassification,
  region,
  gpu,
  replicas,
  pricePerHour,
  serverError,
  fieldErrorStep,
  onGoTo,
}: {
  name: string;
  nameError?: string;
  onNameChange: (value: string) => void;
  model: CatalogModel;
  dataClassification: DataClassification;
  region: RegionOption;
  gpu: GpuOption;
  replicas: { replicas: number; minReplicas: number; maxReplicas: number };
  pricePerHour: number;
  serverError: { message: string } | null;
  fieldErrorStep: number;
  onGoTo: (step: number) => void;
}) {
  const rows: [string, ReactNode][] = [
    ["Model", `${model.name}, version ${model.version}`],
    ["Data classification", dataClassLabel(dataClassification)],
    ["Region", `${region.region.name} (${region.region.code}, ${region.region.jurisdiction})`],
    ["GPUs", `${replicas.replicas} × ${gpu.gpusPerReplica} ${gpu.gpuTypeName} = ${replicas.replicas * gpu.gpusPerReplica} GPU(s) reserved`],
    ["Replicas", `${replicas.replicas} now, scaling between ${replicas.minReplicas} and ${replicas.maxReplicas}`],
  ];
  return (
    <div className="space-y-5">
      <div className="max-w-md">
        <Field label="Deployment name" name="deployment-name" error={nameError} hint="Programs pass it as the model name. Lower-case letters, digits and dashes.">
          <Input
            name="deployment-name"
            value={name}
            onChange={(e) => onNameChange(e.target.value)}
            invalid={Boolean(nameError)}
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            maxLength={DEPLOYMENT_NAME.maxLength}
            required
          />
        </Field>
      </div>
      <dl className="divide-y divide-slate-100 rounded-md border border-slate-200 text-sm">
        {rows.map(([label, value]) => (
          <div key={label} className="grid gap-0.5 px-3 py-2 sm:grid-cols-[12rem_1fr] sm:gap-3">
            <dt className="text-slate-500">{label}</dt>
            <dd className="break-words text-slate-900">{value}</dd>
          </div>
        ))}
      </dl>
      <div className="rounded-lg bg-brand-50 px-4 py-3">
        <p className="text-sm text-slate-600">Price per hour while running</p>
        <p className="text-3xl font-semibold tabular-nums text-slate-900">
          <span data-testid="price-per-hour">{formatEur(pricePerHour)}</span>
          <span className="ml-1 text-base font-normal text-slate-600">/ hour</span>
        </p>
        <p className="text-xs text-slate-600">
          {formatEur(gpu.pricePerReplicaHourEur)} per replica-hour × {replicas.replicas} · about {formatEur(pricePerHour * HOURS_PER_MONTH)} a month if it never stops
        </p>
      </div>
      {serverError && (
        <div role="alert" className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800">
          <p className="font-medium">The deployment was not created.</p>
          <p className="mt-0.5">{serverError.message}</p>
          {fieldErrorStep >= 0 && (
            <button type="button" onClick={() => onGoTo(fieldErrorStep)} className="mt-1 font-medium underline">
              Go to {STEPS[fieldErrorStep].title}
            </button>
          )}
        </div>
      )}
    </div>
  );
}

