/**
 * Which driver runs a region's replicas, built from the region's row (driver kind + endpoint)
 * and this installation's credentials (environment). A region whose cluster this installation
 * cannot reach gets a driver that refuses with the reason, so deployments there fail cleanly.
 */
import path from "node:path";
import { KubernetesDriver } from "./kubernetes";
import { LocalDriver } from "./local";
import { SlurmDriver, modelServerJobScript } from "./slurm";
import { DriverError, type ClusterDriver, type DriverKind } from "./types";

export interface RegionForDriver {
  code: string;
  driverKind: "LOCAL" | "SLURM" | "KUBERNETES";
  driverEndpoint: string | null;
  capacities: { totalGpus: number; gpuType: { code: string } }[];
}

/** `fr-par-snc` → `ENCLAVE_REGION_FR_PAR_SNC_<NAME>`: per-region credentials never live in the database. */
function regionSetting(region: RegionForDriver, name: string): string | undefined {
  return process.env[`ENCLAVE_REGION_${region.code.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_${name}`];
}

class UnreachableClusterDriver implements ClusterDriver {
  constructor(
    readonly kind: DriverKind,
    private readonly reason: string,
  ) {}
  private refuse(): never {
    throw new DriverError(this.reason, false);
  }
  apply(): never {
    return this.refuse();
  }
  // Nothing of ours can be on a cluster we never reached: observing it is empty, not an error.
  async observe() {
    return [];
  }
  async delete() {}
  capacity(): never {
    return this.refuse();
  }
}

const cache = new Map<string, ClusterDriver>();

export function driverForRegion(region: RegionForDriver): ClusterDriver {
  // One machine is one local cluster: every LOCAL region shares a driver, so its per-process
  // serialisation of starts and stops covers them all.
  const key = region.driverKind === "LOCAL" ? `LOCAL|${process.env.ENCLAVE_LOCAL_CLUSTER_DIR ?? ""}` : `${region.code}|${region.driverKind}|${region.driverEndpoint ?? ""}`;
  let driver = cache.get(key);
  if (!driver) {
    driver = buildDriver(region);
    cache.set(key, driver);
  }
  return driver;
}

function buildDriver(region: RegionForDriver): ClusterDriver {
  const totals = Object.fromEntries(region.capacities.map((c) => [c.gpuType.code, c.totalGpus]));
  switch (region.driverKind) {
    case "LOCAL":
      // Capacity is governed by the regions' rows (allocation.ts); the driver's own totals only
      // inform its capacity() report.
      return new LocalDriver({ totalGpus: totals, stateDir: process.env.ENCLAVE_LOCAL_CLUSTER_DIR || undefined });
    case "SLURM": {
      const token = regionSetting(region, "SLURM_TOKEN");
      const userName = regionSetting(region, "SLURM_USER");
      const restUrl = regionSetting(region, "SLURM_URL") ?? region.driverEndpoint?.replace(/\/slurm\/v[\d.]+\/?$/, "");
      if (!token || !userName || !restUrl) {
        return new UnreachableClusterDriver("slurm", `Region ${region.code}'s Slurm cluster is not connected to this installation (an operator sets its slurmrestd URL, user and token).`);
      }
      return new SlurmDriver({
        restUrl,
        userName,
        token,
        workDir: regionSetting(region, "SLURM_WORKDIR") ?? path.join("/tmp", "enclave-slurm-jobs"),
        modelServer: async (spec, port) => {
          const { resolveModelArtifact } = await import("../model-server/tiny-model");
          return modelServerJobScript({ modelPath: await resolveModelArtifact(spec.model.artifactUri), servedModelName: spec.servedModelName, port });
        },
      });
    }
    case "KUBERNETES": {
      const token = regionSetting(region, "KUBE_TOKEN");
      const server = regionSetting(region, "KUBE_SERVER") ?? region.driverEndpoint ?? undefined;
      if (!token || !server) {
        return new UnreachableClusterDriver("kubernetes", `Region ${region.code}'s Kubernetes cluster is not connected to this installation (an operator sets its API server and token).`);
      }
      return new KubernetesDriver({ server, token, caData: regionSetting(region, "KUBE_CA") }, { mode: regionSetting(region, "KUBE_MODE") === "kserve" ? "kserve" : "deployment" });
    }
  }
}
