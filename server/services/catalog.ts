import { db, type Tx } from "../db";
import { eurToMicroEur } from "../../lib/budgets";
import { DomainError, conflict, isUniqueViolation } from "../errors";
import type { CatalogModelStatus, ModelRuntime } from "../generated/prisma/enums";
import { recordAudit, type Actor } from "./audit";
import { tokenPriceEur } from "./pricing";

/** A model with its per-token prices also in € per million tokens (what the API and the console show). */
function withEurPrices<M extends { inputMicroEurPerMillionTokens: number; outputMicroEurPerMillionTokens: number }>(model: M) {
  return { ...model, ...tokenPriceEur(model) };
}

export async function listCatalogModels(options: { includeDeprecated?: boolean } = {}) {
  const models = await db.catalogModel.findMany({
    where: options.includeDeprecated ? {} : { status: "ACTIVE" },
    orderBy: [{ family: "asc" }, { version: "desc" }],
    select: {
      id: true,
      slug: true,
      family: true,
      name: true,
      version: true,
      parameterCount: true,
      contextLength: true,
      license: true,
      openWeights: true,
      openData: true,
      origin: true,
      artifactUri: true,
      artifactSha256: true,
      runtime: true,
      gpuMemoryGb: true,
      minGpuCount: true,
      status: true,
      description: true,
      inputMicroEurPerMillionTokens: true,
      outputMicroEurPerMillionTokens: true,
      fitsGpuTypes: { select: { id: true, code: true, name: true }, orderBy: { code: "asc" } },
      allowedRegions: { select: { id: true, code: true, name: true }, orderBy: { code: "asc" } },
    },
  });
  return models.map(withEurPrices);
}

export interface CatalogModelInput {
  slug: string;
  family: string;
  name: string;
  version: string;
  parameterCount: bigint;
  contextLength: number;
  license: string;
  openWeights: boolean;
  openData: boolean;
  origin: string;
  artifactUri: string;
  /** Null until the artifact has been fetched and digested. */
  artifactSha256: string | null;
  runtime: ModelRuntime;
  gpuMemoryGb: number;
  minGpuCount: number;
  fitsGpuTypeIds: string[];
  /** Empty: every region. */
  allowedRegionIds: string[];
  description: string | null;
  /** € per million tokens; left out: 0 for a new model, unchanged on an update. */
  inputEurPerMillionTokens?: number;
  outputEurPerMillionTokens?: number;
}

function loadModel(tx: Tx, modelId: string) {
  return tx.catalogModel.findUnique({
    where: { id: modelId },
    include: { fitsGpuTypes: { select: { id: true, code: true }, orderBy: { code: "asc" } }, allowedRegions: { select: { id: true, code: true }, orderBy: { code: "asc" } } },
  });
}

/** What the audit trail records of a model (codes rather than ids, so the trail reads on its own). */
function modelSnapshot(model: NonNullable<Awaited<ReturnType<typeof loadModel>>>) {
  const { fitsGpuTypes, allowedRegions, createdAt: _c, updatedAt: _u, id: _i, ...fields } = model;
  return { ...fields, fitsGpuTypes: fitsGpuTypes.map((g) => g.code), allowedRegions: allowedRegions.map((r) => r.code) };
}

async function assertReferencesExist(tx: Tx, input: Pick<CatalogModelInput, "fitsGpuTypeIds" | "allowedRegionIds">) {
  const gpuTypes = await tx.gpuType.findMany({ where: { id: { in: input.fitsGpuTypeIds } }, select: { id: true } });
  const regions = await tx.region.findMany({ where: { id: { in: input.allowedRegionIds } }, select: { id: true } });
  const knownGpus = new Set(gpuTypes.map((g) => g.id));
  const unknownGpu = input.fitsGpuTypeIds.findIndex((id) => !knownGpus.has(id));
  if (unknownGpu >= 0) throw new DomainError("NOT_FOUND", `GPU type ${input.fitsGpuTypeIds[unknownGpu]} was not found`, { field: "fitsGpuTypeIds" });
  const knownRegions = new Set(regions.map((r) => r.id));
  const unknownRegion = input.allowedRegionIds.findIndex((id) => !knownRegions.has(id));
  if (unknownRegion >= 0) throw new DomainError("NOT_FOUND", `Region ${input.allowedRegionIds[unknownRegion]} was not found`, { field: "allowedRegionIds" });
}

async function assertVersionFree(tx: Tx, input: { slug: string; version: string }, exceptModelId?: string) {
  const existing = await tx.catalogModel.findUnique({ where: { slug_version: { slug: input.slug, version: input.version } }, select: { id: true } });
  if (existing && existing.id !== exceptModelId) throw versionTaken(input);
}

const versionTaken = (input: { slug: string; version: string }) =>
  conflict(`${input.slug} version ${input.version} is already in the catalog; give this one another version`, "version");

/** The model's columns; prices in micro-euros per million tokens (those left out keep `before`'s). */
function modelData(input: CatalogModelInput, before?: { inputMicroEurPerMillionTokens: number; outputMicroEurPerMillionTokens: number }) {
  const { fitsGpuTypeIds: _f, allowedRegionIds: _a, inputEurPerMillionTokens, outputEurPerMillionTokens, ...fields } = input;
  return {
    ...fields,
    inputMicroEurPerMillionTokens: inputEurPerMillionTokens === undefined ? (before?.inputMicroEurPerMillionTokens ?? 0) : eurToMicroEur(inputEurPerMillionTokens),
    outputMicroEurPerMillionTokens: outputEurPerMillionTokens === undefined ? (before?.outputMicroEurPerMillionTokens ?? 0) : eurToMicroEur(outputEurPerMillionTokens),
  };
}

export async function createCatalogModel(actor: Actor, input: CatalogModelInput) {
  try {
    return await db.$transaction(async (tx) => {
      await assertVersionFree(tx, input);
      await assertReferencesExist(tx, input);
      const created = await tx.catalogModel.create({
        data: {
          ...modelData(input),
          fitsGpuTypes: { connect: input.fitsGpuTypeIds.map((id) => ({ id })) },
          allowedRegions: { connect: input.allowedRegionIds.map((id) => ({ id })) },
        },
      });
      const model = (await loadModel(tx, created.id))!;
      await recordAudit(tx, actor, { orgId: null, action: "catalog.model_added", targetType: "CatalogModel", targetId: model.id, after: modelSnapshot(model) });
      return withEurPrices(model);
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw versionTaken(input);
    throw error;
  }
}

/** Replaces every field of a catalog model; deployments keep the model id they were created with. */
export async function updateCatalogModel(actor: Actor, input: CatalogModelInput & { modelId: string }) {
  const { modelId, ...fields } = input;
  try {
    return await db.$transaction(async (tx) => {
      const before = await loadModel(tx, modelId);
      if (!before) throw new DomainError("NOT_FOUND", "Catalog model was not found", { field: "modelId" });
      await assertVersionFree(tx, fields, modelId);
      await assertReferencesExist(tx, fields);
      if (isUnchanged(before, fields)) return withEurPrices(before);
      await tx.catalogModel.update({
        where: { id: modelId },
        data: {
          ...modelData(fields, before),
          fitsGpuTypes: { set: fields.fitsGpuTypeIds.map((id) => ({ id })) },
          allowedRegions: { set: fields.allowedRegionIds.map((id) => ({ id })) },
        },
      });
      const after = (await loadModel(tx, modelId))!;
      await recordAudit(tx, actor, { orgId: null, action: "catalog.model_updated", targetType: "CatalogModel", targetId: modelId, before: modelSnapshot(before), after: modelSnapshot(after) });
      return withEurPrices(after);
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw versionTaken(input);
    throw error;
  }
}

/** Saving the form without changing anything writes nothing and leaves no audit event. */
function isUnchanged(before: NonNullable<Awaited<ReturnType<typeof loadModel>>>, input: CatalogModelInput): boolean {
  const fields = modelData(input, before);
  const same = (Object.keys(fields) as (keyof typeof fields)[]).every((key) => String(before[key]) === String(fields[key]));
  const ids = (list: string[]) => [...list].sort().join(",");
  return same && ids(before.fitsGpuTypes.map((g) => g.id)) === ids(input.fitsGpuTypeIds) && ids(before.allowedRegions.map((r) => r.id)) === ids(input.allowedRegionIds);
}

/** Deprecated models stay in place for existing deployments but are no longer offered for new ones. */
export async function setCatalogModelStatus(actor: Actor, input: { modelId: string; status: CatalogModelStatus }) {
  return db.$transaction(async (tx) => {
    const before = await tx.catalogModel.findUnique({ where: { id: input.modelId }, select: { id: true, slug: true, version: true, status: true } });
    if (!before) throw new DomainError("NOT_FOUND", "Catalog model was not found", { field: "modelId" });
    if (before.status === input.status) throw conflict(`${before.slug} ${before.version} is already ${input.status === "ACTIVE" ? "active" : "deprecated"}`, "status");
    const after = await tx.catalogModel.update({ where: { id: before.id }, data: { status: input.status }, select: { id: true, slug: true, version: true, status: true } });
    await recordAudit(tx, actor, {
      orgId: null,
      action: input.status === "DEPRECATED" ? "catalog.model_deprecated" : "catalog.model_reactivated",
      targetType: "CatalogModel",
      targetId: before.id,
      before: { slug: before.slug, version: before.version, status: before.status },
      after: { slug: after.slug, version: after.version, status: after.status },
    });
    return after;
  });
}
