/**
 * Which driver runs a region's replicas, built from the region's row (driver kind + endpoint)
 * and this installation's credentials (environment). A region whose cluster this installation
 * cannot reach gets a driver that refuses with the reason, so deployments there fail cleanly.
 */
import path from "node:path";
import { KubernetesDriver } from "./kubernetes";
import { LocalDriver } from "./local";
import { SlurmDriver, modelServerJobScript } from "./slurm";
import { clusterConnection } from "../../server/services/cluster-credentials";
import { DriverError, type ClusterDriver, type DriverKind } from "./types";

export interface RegionForDriver {
  code: string;
  driverKind: "LOCAL" | "SLURM" | "KUBERNETES";
  driverEndpoint: string | null;
  capacities: { totalGpus: number; gpuType: { code: string } }[];
}

// Which credentials a region needs, and whether this installation has them for the region's
// endpoint: one rule, shared with the console's "not connected" badges.
export { regionSettingName } from "../../server/services/cluster-credentials";

/** Refuses everything: observing too (retryable, so existing replicas are not taken for gone while an operator fixes it). */
class MisconfiguredClusterDriver implements ClusterDriver {
  constructor(
    readonly kind: DriverKind,
    private readonly reason: string,
  ) {}
  async apply(): Promise<never> {
    throw new DriverError(this.reason, false);
  }
  async observe(): Promise<never> {
    throw new DriverError(this.reason, true);
  }
  async delete(): Promise<never> {
    throw new DriverError(this.reason, true);
  }
  async capacity(): Promise<never> {
    throw new DriverError(this.reason, true);
  }
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

const DRIVER_KINDS: Record<RegionForDriver["driverKind"], DriverKind> = { LOCAL: "local", SLURM: "slurm", KUBERNETES: "kubernetes" };

function buildDriver(region: RegionForDriver): ClusterDriver {
  const totals = Object.fromEntries(region.capacities.map((c) => [c.gpuType.code, c.totalGpus]));
  const kind = DRIVER_KINDS[region.driverKind];
  const connection = clusterConnection(region);
  if (connection.state === "not_connected") return new UnreachableClusterDriver(kind, connection.reason);
  if (connection.state === "misconfigured") return new MisconfiguredClusterDriver(kind, connection.reason);
  const credentials = connection.credentials;
  switch (credentials.kind) {
    case "LOCAL":
      // Capacity is governed by the regions' rows (allocation.ts); the driver's own totals only
      // inform its capacity() report.
      return new LocalDriver({ totalGpus: totals, stateDir: process.env.ENCLAVE_LOCAL_CLUSTER_DIR || undefined });
    case "SLURM":
      // Never the database's endpoint: the token is sent only where the environment says (cluster-credentials.ts).
      return new SlurmDriver({
        restUrl: credentials.restUrl,
        userName: credentials.userName,
        token: credentials.token,
        workDir: credentials.workDir ?? path.join("/tmp", "enclave-slurm-jobs"),
        modelServer: async (spec, port) => {
          const { resolveConfinedArtifact } = await import("../model-server/tiny-model");
          return modelServerJobScript({ modelPath: await resolveConfinedArtifact(spec.model.artifactUri), servedModelName: spec.servedModelName, port, expectSha256: spec.model.artifactSha256 });
        },
      });
    case "KUBERNETES":
      return new KubernetesDriver({ server: credentials.server, token: credentials.token, caData: credentials.caData }, { mode: credentials.mode });
  }
}
