import { db } from "../db";

export function listCatalogModels(options: { includeDeprecated?: boolean } = {}) {
  return db.catalogModel.findMany({
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
      fitsGpuTypes: { select: { code: true, name: true } },
      allowedRegions: { select: { code: true, name: true } },
    },
  });
}
