/**
 * Which cluster credentials a region needs from this installation's environment, and whether it
 * has them: one rule for the drivers (workers/drivers/registry.ts) and for the console's
 * "not connected" badges (regions.ts, deployments.ts). Credentials never live in the database;
 * they are read from `ENCLAVE_REGION_<CODE>_<NAME>` variables, and a token goes only to the URL
 * configured with it there. Imports nothing, so the console bundle pulls in no driver code.
 */

export type DriverKind = "LOCAL" | "SLURM" | "KUBERNETES";

export interface RegionEndpoint {
  code: string;
  driverKind: DriverKind;
  driverEndpoint: string | null;
}

type Env = Readonly<Record<string, string | undefined>>;

/** `fr-par-snc`, `SLURM_TOKEN` → `ENCLAVE_REGION_FR_PAR_SNC_SLURM_TOKEN`. */
export function regionSettingName(regionCode: string, name: string): string {
  return `ENCLAVE_REGION_${regionCode.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_${name}`;
}

/** A region's setting from the environment, trimmed; blank counts as unset. */
export function regionSetting(region: Pick<RegionEndpoint, "code">, name: string, env: Env = process.env): string | undefined {
  const value = env[regionSettingName(region.code, name)];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

/** scheme://host:port/path without a trailing slash (and, for Slurm, without `/slurm/<version>`). */
function comparableUrl(url: string, kind: "SLURM" | "KUBERNETES"): string | null {
  try {
    const parsed = new URL(url);
    let pathname = parsed.pathname.replace(/\/+$/, "");
    if (kind === "SLURM") pathname = pathname.replace(/\/slurm\/v[\d.]+$/, "");
    return `${parsed.protocol}//${parsed.host.toLowerCase()}${pathname}`;
  } catch {
    return null;
  }
}

/**
 * A region's credentials go only to the URL configured with them in the environment. The region's
 * row may name the same endpoint (or none); one that names another (an edit in the console) is
 * refused, instead of the token following the database elsewhere.
 */
function endpointMismatch(region: RegionEndpoint, kind: "SLURM" | "KUBERNETES", configuredUrl: string, urlSetting: string): string | null {
  if (!region.driverEndpoint) return null;
  const configured = comparableUrl(configuredUrl, kind);
  if (configured !== null && configured === comparableUrl(region.driverEndpoint, kind)) return null;
  return (
    `Region ${region.code}'s endpoint in the database is not the URL its cluster credentials are configured for (${regionSettingName(region.code, urlSetting)}); ` +
    "the credentials are sent only to that URL. An operator restores the region's endpoint or changes the environment."
  );
}

const withoutUrl = (region: RegionEndpoint, urlSetting: string) =>
  ` Its token is set but ${regionSettingName(region.code, urlSetting)} is not: the token is sent only to the URL configured with it, never to the endpoint in the database.`;

export interface SlurmCredentials {
  restUrl: string;
  userName: string;
  token: string;
  workDir: string | undefined;
}

export interface KubernetesCredentials {
  server: string;
  token: string;
  caData: string | undefined;
  mode: "kserve" | "deployment";
}

export type ClusterCredentials = { kind: "LOCAL" } | ({ kind: "SLURM" } & SlurmCredentials) | ({ kind: "KUBERNETES" } & KubernetesCredentials);

/**
 * `connected`: the credentials to drive the cluster. `not_connected`: some are missing (`missing`
 * names the variables, never their values). `misconfigured`: they are set, but for another URL
 * than the region's endpoint.
 */
export type ClusterConnection =
  | { state: "connected"; credentials: ClusterCredentials }
  | { state: "not_connected"; reason: string; missing: string[] }
  | { state: "misconfigured"; reason: string; missing: string[] };

/** Whether this installation can drive the region's cluster: the local driver always can; Slurm and Kubernetes need their credentials. */
export function clusterConnection(region: RegionEndpoint, env: Env = process.env): ClusterConnection {
  const get = (name: string) => regionSetting(region, name, env);
  const missing = (settings: [string, string | undefined][]) => settings.filter(([, value]) => value === undefined).map(([name]) => regionSettingName(region.code, name));
  switch (region.driverKind) {
    case "LOCAL":
      return { state: "connected", credentials: { kind: "LOCAL" } };
    case "SLURM": {
      const token = get("SLURM_TOKEN");
      const userName = get("SLURM_USER");
      // Never the database's endpoint: the token is sent only where the environment says.
      const restUrl = get("SLURM_URL")?.replace(/\/slurm\/v[\d.]+\/?$/, "");
      if (!token || !userName || !restUrl) {
        return {
          state: "not_connected",
          reason: `Region ${region.code}'s Slurm cluster is not connected to this installation (an operator sets its slurmrestd URL, user and token).${token && !restUrl ? withoutUrl(region, "SLURM_URL") : ""}`,
          missing: missing([["SLURM_URL", restUrl], ["SLURM_USER", userName], ["SLURM_TOKEN", token]]),
        };
      }
      const mismatch = endpointMismatch(region, "SLURM", restUrl, "SLURM_URL");
      if (mismatch) return { state: "misconfigured", reason: mismatch, missing: [] };
      return { state: "connected", credentials: { kind: "SLURM", restUrl, userName, token, workDir: get("SLURM_WORKDIR") } };
    }
    case "KUBERNETES": {
      const token = get("KUBE_TOKEN");
      const server = get("KUBE_SERVER");
      if (!token || !server) {
        return {
          state: "not_connected",
          reason: `Region ${region.code}'s Kubernetes cluster is not connected to this installation (an operator sets its API server and token).${token && !server ? withoutUrl(region, "KUBE_SERVER") : ""}`,
          missing: missing([["KUBE_SERVER", server], ["KUBE_TOKEN", token]]),
        };
      }
      const mismatch = endpointMismatch(region, "KUBERNETES", server, "KUBE_SERVER");
      if (mismatch) return { state: "misconfigured", reason: mismatch, missing: [] };
      return { state: "connected", credentials: { kind: "KUBERNETES", server, token, caData: get("KUBE_CA"), mode: get("KUBE_MODE") === "kserve" ? "kserve" : "deployment" } };
    }
  }
}
