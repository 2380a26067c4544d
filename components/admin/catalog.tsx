"use client";
import { useRef, useState, type FormEvent } from "react";
import { toast } from "sonner";
import { TokenPrices } from "../budgets/token-prices";
import { formatNumber, formatParameters } from "../format";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { Dialog, DialogActions } from "../ui/dialog";
import { Checkbox, Fieldset, Textarea } from "../ui/fields";
import { Field, Input, Select } from "../ui/form";
import { IconButton, RowActions } from "../ui/icon-button";
import { Badge, PageHeader, Table, Td } from "../ui/layout";
import { EmptyState, LoadingState, QueryView } from "../ui/states";
import { FormError, formErrors, parseWholeNumber, useFocusFirstInvalid } from "./shared";

type Model = RouterOutputs["admin"]["catalog"][number];
type Runtime = Model["runtime"];

const RUNTIME_LABELS: Record<Runtime, string> = { LLAMA_CPP: "llama.cpp", VLLM: "vLLM", TGI: "TGI" };

/** A digest is long; the first 12 hex digits are enough to compare by eye, the title has the rest. */
function Digest({ sha256 }: { sha256: string | null }) {
  if (!sha256) return <span className="text-slate-500">not verified yet</span>;
  return (
    <span className="font-mono text-xs" title={sha256}>
      {sha256.slice(0, 12)}…
    </span>
  );
}

export function AdminCatalogPage() {
  const catalog = api.admin.catalog.useQuery();
  const [editing, setEditing] = useState<Model | "new" | null>(null);
  return (
    <>
      <PageHeader
        title="Catalog"
        description="Models tenants can deploy: provenance, licence, openness, the runtime that serves them and the GPUs they fit."
        actions={<Button onClick={() => setEditing("new")}>Add model</Button>}
      />
      <QueryView query={catalog}>
        {(models) =>
          models.length === 0 ? (
            <EmptyState title="The catalog is empty">
              Add a model with its artifact, licence and the GPU types it fits; tenants can deploy it once it is active.
            </EmptyState>
          ) : (
            <CatalogTable models={models} onEdit={setEditing} />
          )
        }
      </QueryView>
      {editing && <ModelFormDialog model={editing === "new" ? null : editing} onClose={() => setEditing(null)} />}
    </>
  );
}

function CatalogTable({ models, onEdit }: { models: Model[]; onEdit: (m: Model) => void }) {
  const utils = api.useUtils();
  const setStatus = api.admin.setModelStatus.useMutation({
    onSuccess: async (_data, input) => {
      const model = models.find((m) => m.id === input.modelId);
      const label = model ? `${model.name} ${model.version}` : "The model";
      toast.success(input.status === "DEPRECATED" ? `${label} is deprecated: tenants can no longer deploy it` : `${label} is active again`);
      await utils.admin.catalog.invalidate();
    },
    onError: (e) => toast.error(e.message),
  });
  return (
    <Table caption="Catalog models" head={["Model", "Context · price per 1M tokens", "Licence · origin", "Runtime · GPUs", "Regions", "Digest", "Status", <span key="a" className="sr-only">Actions</span>]}>
      {models.map((m) => {
        const label = `${m.name} ${m.version}`;
        const pending = setStatus.isPending && setStatus.variables?.modelId === m.id;
        return (
          <tr key={m.id}>
            <Td className="whitespace-normal">
              <p className="font-medium">
                {m.name} <span className="text-slate-600">{m.version}</span>
              </p>
              <p className="font-mono text-xs text-slate-500">{m.slug}</p>
              <p className="text-xs text-slate-600">
                {m.family} · <span className="tabular-nums">{formatParameters(m.parameterCount)}</span>
              </p>
            </Td>
            <Td className="tabular-nums">
              <p>{formatNumber(m.contextLength)} tokens</p>
              <p className="text-xs">
                <TokenPrices input={m.inputEurPerMillionTokens} output={m.outputEurPerMillionTokens} />
              </p>
            </Td>
            <Td className="min-w-[10rem] max-w-[14rem] whitespace-normal">
              <p>{m.license}</p>
              <div className="mt-1 flex flex-wrap gap-1">
                <Badge tone={m.openWeights ? "good" : "neutral"}>{m.openWeights ? "Open weights" : "Closed weights"}</Badge>
                <Badge tone={m.openData ? "good" : "neutral"}>{m.openData ? "Open data" : "Closed data"}</Badge>
              </div>
              <p className="mt-1 text-xs text-slate-600">{m.origin}</p>
            </Td>
            <Td className="whitespace-normal">
              <p>{RUNTIME_LABELS[m.runtime]}</p>
              <p className="text-xs tabular-nums text-slate-600">
                {m.gpuMemoryGb} GB{m.minGpuCount > 1 && <> · {m.minGpuCount} GPUs min.</>}
              </p>
              {m.fitsGpuTypes.length === 0 ? (
                <p className="text-xs text-slate-500">Fits no GPU</p>
              ) : (
                <ul className="mt-0.5 flex max-w-[10rem] flex-wrap gap-x-2 text-xs" aria-label="Fits GPUs">
                  {m.fitsGpuTypes.map((g) => (
                    <li key={g.id} title={g.name}>
                      {g.code}
                    </li>
                  ))}
                </ul>
              )}
            </Td>
            <Td>
              {m.allowedRegions.length === 0 ? (
                <span className="text-slate-600">all</span>
              ) : (
                <ul className="space-y-0.5 font-mono text-xs">
                  {m.allowedRegions.map((r) => (
                    <li key={r.id} title={r.name}>
                      {r.code}
                    </li>
                  ))}
                </ul>
              )}
            </Td>
            <Td>
              <Digest sha256={m.artifactSha256} />
            </Td>
            <Td>
              <Badge tone={m.status === "ACTIVE" ? "good" : "neutral"}>{m.status === "ACTIVE" ? "Active" : "Deprecated"}</Badge>
            </Td>
            <Td>
              <RowActions>
                <IconButton icon="edit" label={`Edit ${label}`} onClick={() => onEdit(m)} />
                {m.status === "ACTIVE" ? (
                  <IconButton icon="pause" label={`Deprecate ${label}`} loading={pending} onClick={() => setStatus.mutate({ modelId: m.id, status: "DEPRECATED" })} />
                ) : (
                  <IconButton icon="play" label={`Reactivate ${label}`} loading={pending} onClick={() => setStatus.mutate({ modelId: m.id, status: "ACTIVE" })} />
                )}
              </RowActions>
            </Td>
          </tr>
        );
      })}
    </Table>
  );
}

type ModelDraft = {
  slug: string;
  family: string;
  name: string;
  version: string;
  parameterCount: string;
  contextLength: string;
  license: string;
  openWeights: boolean;
  openData: boolean;
  origin: string;
  artifactUri: string;
  artifactSha256: string;
  runtime: Runtime;
  gpuMemoryGb: string;
  minGpuCount: string;
  fitsGpuTypeIds: string[];
  allowedRegionIds: string[];
  description: string;
  inputEurPerMillionTokens: string;
  outputEurPerMillionTokens: string;
};

function draftOf(model: Model | null): ModelDraft {
  if (!model) {
    return {
      slug: "",
      family: "",
      name: "",
      version: "",
      parameterCount: "",
      contextLength: "",
      license: "",
      openWeights: true,
      openData: false,
      origin: "",
      artifactUri: "",
      artifactSha256: "",
      runtime: "LLAMA_CPP",
      gpuMemoryGb: "",
      minGpuCount: "1",
      fitsGpuTypeIds: [],
      allowedRegionIds: [],
      description: "",
      inputEurPerMillionTokens: "0",
      outputEurPerMillionTokens: "0",
    };
  }
  return {
    slug: model.slug,
    family: model.family,
    name: model.name,
    version: model.version,
    parameterCount: String(model.parameterCount),
    contextLength: String(model.contextLength),
    license: model.license,
    openWeights: model.openWeights,
    openData: model.openData,
    origin: model.origin,
    artifactUri: model.artifactUri,
    artifactSha256: model.artifactSha256 ?? "",
    runtime: model.runtime,
    gpuMemoryGb: String(model.gpuMemoryGb),
    minGpuCount: String(model.minGpuCount),
    fitsGpuTypeIds: model.fitsGpuTypes.map((g) => g.id),
    allowedRegionIds: model.allowedRegions.map((r) => r.id),
    description: model.description ?? "",
    inputEurPerMillionTokens: String(model.inputEurPerMillionTokens),
    outputEurPerMillionTokens: String(model.outputEurPerMillionTokens),
  };
}

/** "0.15" or "0,15" → 0.15; anything else → null (the server checks the range and the precision). */
function parseEuros(value: string): number | null {
  const trimmed = value.trim().replace(",", ".");
  return /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : null;
}

const toggle = (list: string[], value: string, on: boolean) => (on ? [...new Set([...list, value])] : list.filter((v) => v !== value));

function ModelFormDialog({ model, onClose }: { model: Model | null; onClose: () => void }) {
  const utils = api.useUtils();
  const gpuTypes = api.admin.gpuTypes.useQuery();
  const regions = api.admin.regions.useQuery();
  const [draft, setDraft] = useState<ModelDraft>(() => draftOf(model));
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});
  const set = <K extends keyof ModelDraft>(key: K, value: ModelDraft[K]) => setDraft((d) => ({ ...d, [key]: value }));

  const onSuccess = async (input: { name: string; version: string }) => {
    toast.success(model ? `${input.name} ${input.version} updated` : `${input.name} ${input.version} added to the catalog`);
    onClose();
    await utils.admin.catalog.invalidate();
  };
  const onError = (e: { message: string }) => toast.error(e.message);
  const create = api.admin.createModel.useMutation({ onSuccess: (_saved, input) => onSuccess(input), onError });
  const update = api.admin.updateModel.useMutation({ onSuccess: (_saved, input) => onSuccess(input), onError });
  const mutation = model ? update : create;
  const err = formErrors(mutation.error, localErrors);
  const formRef = useRef<HTMLFormElement>(null);
  useFocusFirstInvalid(formRef, mutation.error, Object.keys(localErrors).length > 0 ? localErrors : null);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const problems: Record<string, string> = {};
    const parameterCount = draft.parameterCount.trim().replace(/[\s_,]/g, "");
    if (!/^\d+$/.test(parameterCount)) problems.parameterCount = "Enter the number of parameters in digits, e.g. 9000000000";
    const contextLength = parseWholeNumber(draft.contextLength);
    if (contextLength === null) problems.contextLength = "Enter a whole number of tokens";
    const gpuMemoryGb = parseWholeNumber(draft.gpuMemoryGb);
    if (gpuMemoryGb === null) problems.gpuMemoryGb = "Enter a whole number of GB";
    const minGpuCount = parseWholeNumber(draft.minGpuCount);
    if (minGpuCount === null) problems.minGpuCount = "Enter a whole number of GPUs";
    const inputPrice = parseEuros(draft.inputEurPerMillionTokens);
    if (inputPrice === null) problems.inputEurPerMillionTokens = "Enter the input price in euros per million tokens, e.g. 0.15 (0: not charged)";
    const outputPrice = parseEuros(draft.outputEurPerMillionTokens);
    if (outputPrice === null) problems.outputEurPerMillionTokens = "Enter the output price in euros per million tokens, e.g. 0.45 (0: not charged)";
    setLocalErrors(problems);
    if (Object.keys(problems).length > 0) return;

    const fields = {
      slug: draft.slug.trim(),
      family: draft.family.trim(),
      name: draft.name.trim(),
      version: draft.version.trim(),
      parameterCount,
      contextLength: contextLength ?? 0,
      license: draft.license.trim(),
      openWeights: draft.openWeights,
      openData: draft.openData,
      origin: draft.origin.trim(),
      artifactUri: draft.artifactUri.trim(),
      artifactSha256: draft.artifactSha256.trim().toLowerCase() || undefined,
      runtime: draft.runtime,
      gpuMemoryGb: gpuMemoryGb ?? 0,
      minGpuCount: minGpuCount ?? 0,
      fitsGpuTypeIds: draft.fitsGpuTypeIds,
      allowedRegionIds: draft.allowedRegionIds,
      description: draft.description.trim() || undefined,
      inputEurPerMillionTokens: inputPrice ?? 0,
      outputEurPerMillionTokens: outputPrice ?? 0,
    };
    if (model) update.mutate({ modelId: model.id, ...fields });
    else create.mutate(fields);
  };

  const text = (key: keyof ModelDraft & string, label: string, hint?: string, extra: { inputMode?: "numeric" | "decimal" | "url"; placeholder?: string } = {}) => (
    <Field label={label} name={key} error={err(key)} hint={hint}>
      <Input name={key} value={draft[key] as string} onChange={(e) => set(key, e.target.value as never)} autoComplete="off" invalid={!!err(key)} {...extra} />
    </Field>
  );
  const parameterPreview = /^\d+$/.test(draft.parameterCount.trim()) ? `≈ ${formatParameters(Number(draft.parameterCount.trim()))} parameters` : "Digits only, e.g. 9000000000";

  return (
    <Dialog title={model ? `Edit ${model.name} ${model.version}` : "Add model"} onClose={onClose} size="lg">
      <form ref={formRef} onSubmit={submit} noValidate className="space-y-5">
        <div className="grid gap-4 sm:grid-cols-2">
          {text("name", "Name", undefined, { placeholder: "EuroLLM-9B-Instruct" })}
          {text("version", "Version")}
          {text("slug", "Slug", "Lower case; tenants use it as the model name in API calls.")}
          {text("family", "Family", "e.g. EuroLLM, Mistral, Llama")}
          {text("parameterCount", "Parameters", parameterPreview, { inputMode: "numeric" })}
          {text("contextLength", "Context length (tokens)", undefined, { inputMode: "numeric" })}
          {text("license", "Licence", "e.g. Apache-2.0")}
          {text("origin", "Origin", "Who trained it, and where.")}
        </div>

        <Fieldset legend="Openness">
          <div className="flex flex-wrap gap-x-6 gap-y-2">
            <Checkbox label="Open weights" checked={draft.openWeights} onChange={(e) => set("openWeights", e.target.checked)} />
            <Checkbox label="Open training data" checked={draft.openData} onChange={(e) => set("openData", e.target.checked)} />
          </div>
        </Fieldset>

        <div className="grid gap-4 sm:grid-cols-2">
          {text("artifactUri", "Artifact URI", "Where the worker fetches the weights from.", { inputMode: "url" })}
          {text("artifactSha256", "Artifact SHA-256", "Leave empty until the artifact has been fetched and digested.")}
        </div>

        <Fieldset legend="Price per million tokens (€)" hint="What every call through the gateway costs, on top of the GPU time; 0: not charged per token. Stored in micro-euros.">
          <div className="grid gap-4 sm:grid-cols-2">
            {text("inputEurPerMillionTokens", "Input (prompt) tokens", "e.g. 0.15", { inputMode: "decimal" })}
            {text("outputEurPerMillionTokens", "Output (completion) tokens", "e.g. 0.45", { inputMode: "decimal" })}
          </div>
        </Fieldset>

        <div className="grid gap-4 sm:grid-cols-3">
          <Field label="Runtime" name="runtime" error={err("runtime")}>
            <Select name="runtime" value={draft.runtime} onChange={(e) => set("runtime", e.target.value as Runtime)} invalid={!!err("runtime")}>
              {(Object.keys(RUNTIME_LABELS) as Runtime[]).map((r) => (
                <option key={r} value={r}>
                  {RUNTIME_LABELS[r]}
                </option>
              ))}
            </Select>
          </Field>
          {text("gpuMemoryGb", "GPU memory (GB)", "Memory needed to serve it.", { inputMode: "numeric" })}
          {text("minGpuCount", "Minimum GPUs", undefined, { inputMode: "numeric" })}
        </div>

        <Fieldset legend="Fits GPU types" hint="GPU types this model can be served on." error={err("fitsGpuTypeIds")} errorId="fitsGpuTypeIds-error">
          {gpuTypes.isLoading ? (
            <LoadingState label="Loading GPU types…" rows={1} />
          ) : gpuTypes.error ? (
            <p className="text-sm text-red-700">Could not load GPU types: {gpuTypes.error.message}</p>
          ) : (
            <div className="grid gap-2 sm:grid-cols-2">
              {gpuTypes.data?.map((g) => (
                <Checkbox
                  key={g.id}
                  label={`${g.code}`}
                  hint={`${g.name} · ${g.memoryGb} GB`}
                  checked={draft.fitsGpuTypeIds.includes(g.id)}
                  onChange={(e) => set("fitsGpuTypeIds", toggle(draft.fitsGpuTypeIds, g.id, e.target.checked))}
                />
              ))}
            </div>
          )}
        </Fieldset>

        <Fieldset legend="Allowed regions" hint="Leave all unchecked to allow every region." error={err("allowedRegionIds")} errorId="allowedRegionIds-error">
          {regions.isLoading ? (
            <LoadingState label="Loading regions…" rows={1} />
          ) : regions.error ? (
            <p className="text-sm text-red-700">Could not load regions: {regions.error.message}</p>
          ) : (
            <div className="grid gap-2 sm:grid-cols-2">
              {regions.data?.map((r) => (
                <Checkbox
                  key={r.id}
                  label={<span className="font-mono text-xs">{r.code}</span>}
                  hint={r.name}
                  checked={draft.allowedRegionIds.includes(r.id)}
                  onChange={(e) => set("allowedRegionIds", toggle(draft.allowedRegionIds, r.id, e.target.checked))}
                />
              ))}
            </div>
          )}
        </Fieldset>

        <Field label="Description" name="description" error={err("description")}>
          <Textarea name="description" value={draft.description} onChange={(e) => set("description", e.target.value)} invalid={!!err("description")} />
        </Field>

        <FormError error={mutation.error} hidden={err.shownAny()} />
        <DialogActions>
          <Button type="button" variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" loading={mutation.isPending}>
            {model ? "Save model" : "Add to catalog"}
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
