/**
 * Cluster credentials stay with their endpoint (issue 9, hardening 7): a region's token from the
 * environment goes only to the URL configured with it there, never to an endpoint edited in the
 * database nor to wherever a redirect points; `file://` catalog artifacts are confined to the models
 * directory (ENCLAVE_MODELS_DIR), `..` and symbolic links included, refused before anything starts.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { KubernetesDriver } from "@/workers/drivers/kubernetes";
import { LocalDriver, REPLICA_MARKER } from "@/workers/drivers/local";
import { driverForRegion, regionSettingName, type RegionForDriver } from "@/workers/drivers/registry";
import { DriverError, type ClusterDriver, type ReplicaSpec } from "@/workers/drivers/types";
import { DEFAULT_MODELS_DIR, ensureTinyModel, MODELS_DIR_ENV, modelsDirectory, resolveConfinedArtifact } from "@/workers/model-server/tiny-model";
import { FakeKubeApiServer } from "../fakes/fake-kube-api-server";

const run = Date.now().toString(36);
const tmp = mkdtempSync(path.join(os.tmpdir(), "enclave-cluster-credentials-"));
let counter = 0;
const setEnv: string[] = [];

interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** An HTTP server that records every request; answers like an empty slurmrestd unless told otherwise. */
async function recorder(answer?: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url!, headers: req.headers });
    req.resume();
    req.on("end", () => {
      if (answer) return answer(req, res);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ jobs: [], nodes: [], errors: [] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  servers.push(server);
  return { url, requests, sawSecret: (secret: string) => JSON.stringify(requests).includes(secret) };
}
const servers: http.Server[] = [];

function env(name: string, value: string) {
  process.env[name] = value;
  setEnv.push(name);
}

/** A region (as the registry reads its row) with a fresh code, so the registry's cache never interferes. */
function region(driverKind: RegionForDriver["driverKind"], driverEndpoint: string | null): RegionForDriver {
  return { code: `eu-test-${run}-${++counter}`, driverKind, driverEndpoint, capacities: [{ totalGpus: 2, gpuType: { code: "H100-80GB" } }] };
}

function spec(overrides: Partial<ReplicaSpec["model"]> = {}): ReplicaSpec {
  return {
    replicaId: `${run}-${++counter}`,
    deploymentId: `dep-${run}`,
    servedModelName: "tiny-chat",
    tenant: "acme",
    revision: 1,
    model: { slug: "tiny", artifactUri: "local://tiny-random-llama", artifactSha256: "", runtime: "LLAMA_CPP", contextLength: 512, ...overrides },
    gpu: { type: "H100-80GB", count: 1 },
  };
}

/** The DriverError a call ends with (thrown at once or rejected: the unreachable driver throws synchronously). */
async function rejection(call: Promise<unknown> | (() => unknown)): Promise<DriverError> {
  const error = await (async () => (typeof call === "function" ? call() : call))().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DriverError);
  return error as DriverError;
}

/** Calls everything a worker would, collecting the errors. */
async function exercise(driver: ClusterDriver) {
  const outcomes = [];
  for (const call of [() => driver.observe(), () => driver.capacity(), () => driver.apply(spec()), () => driver.delete(`${run}-x`)]) {
    outcomes.push(await (async () => call())().then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error })));
  }
  return outcomes;
}

afterEach(() => {
  for (const name of setEnv.splice(0)) delete process.env[name];
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  rmSync(tmp, { recursive: true, force: true });
});

describe("a Slurm region's token", () => {
  const token = `slurm-secret-${run}`;
  const connect = (r: RegionForDriver, url?: string) => {
    env(regionSettingName(r.code, "SLURM_TOKEN"), token);
    env(regionSettingName(r.code, "SLURM_USER"), "enclave");
    if (url) env(regionSettingName(r.code, "SLURM_URL"), url);
  };

  it("is never sent to the database's endpoint when the environment gives no URL", async () => {
    const trap = await recorder();
    const r = region("SLURM", `${trap.url}/slurm/v0.0.38`);
    connect(r);
    const driver = driverForRegion(r);
    const apply = await rejection(() => driver.apply(spec()));
    expect(apply.retryable).toBe(false);
    expect(apply.message).toContain(regionSettingName(r.code, "SLURM_URL"));
    expect(apply.message).toMatch(/sent only to the URL configured with it/);
    expect(apply.message).not.toContain(token);
    await exercise(driver);
    expect(trap.requests).toEqual([]);
  });

  it("is not redirected by an endpoint changed in the database: the driver refuses, saying why", async () => {
    const configured = await recorder();
    const trap = await recorder();
    const r = region("SLURM", `${trap.url}/slurm/v0.0.38`);
    connect(r, configured.url);
    const driver = driverForRegion(r);
    const observe = await rejection(driver.observe());
    // Retryable while observing, so the region's running replicas are not taken for gone.
    expect(observe.retryable).toBe(true);
    expect(observe.message).toMatch(/endpoint in the database is not the URL its cluster credentials are configured for/);
    expect(observe.message).toContain(regionSettingName(r.code, "SLURM_URL"));
    const apply = await rejection(() => driver.apply(spec()));
    expect(apply.retryable).toBe(false);
    for (const outcome of await exercise(driver)) {
      expect(outcome.ok).toBe(false);
      expect(String((outcome as { error: Error }).error.message)).not.toContain(token);
    }
    expect(trap.requests).toEqual([]);
    expect(configured.requests).toEqual([]);
  });

  it("is sent to the configured URL, whether the database names the same endpoint or none", async () => {
    const configured = await recorder();
    const trap = await recorder();
    for (const endpoint of [`${configured.url}/slurm/v0.0.38/`, `${configured.url}/`, null]) {
      const r = region("SLURM", endpoint);
      connect(r, configured.url);
      expect(await driverForRegion(r).observe()).toEqual([]);
    }
    expect(configured.requests).toHaveLength(3);
    for (const request of configured.requests) expect(request.headers["x-slurm-user-token"]).toBe(token);
    expect(trap.requests).toEqual([]);
  });

  it("does not follow a redirect from slurmrestd to elsewhere", async () => {
    const trap = await recorder();
    const redirecting = await recorder((req, res) => res.writeHead(307, { location: `${trap.url}${req.url}` }).end());
    const r = region("SLURM", null);
    connect(r, redirecting.url);
    const error = await rejection(driverForRegion(r).observe());
    expect(error.message).toMatch(/redirect \(HTTP 307\).*does not follow it/);
    expect(error.message).not.toContain(token);
    expect(redirecting.requests).toHaveLength(1);
    expect(trap.requests).toEqual([]);
  });
});

describe("a Kubernetes region's token", () => {
  const token = `kube-secret-${run}`;

  it("is never sent to the database's endpoint when the environment gives no API server", async () => {
    const trap = await recorder();
    const r = region("KUBERNETES", trap.url);
    env(regionSettingName(r.code, "KUBE_TOKEN"), token);
    const driver = driverForRegion(r);
    const apply = await rejection(() => driver.apply(spec()));
    expect(apply.message).toContain(regionSettingName(r.code, "KUBE_SERVER"));
    expect(apply.message).not.toContain(token);
    await exercise(driver);
    expect(trap.requests).toEqual([]);
  });

  it("is not redirected by an API server changed in the database", async () => {
    const configured = await recorder();
    const trap = await recorder();
    const r = region("KUBERNETES", trap.url);
    env(regionSettingName(r.code, "KUBE_TOKEN"), token);
    env(regionSettingName(r.code, "KUBE_SERVER"), configured.url);
    const driver = driverForRegion(r);
    const observe = await rejection(driver.observe());
    expect(observe.message).toContain(regionSettingName(r.code, "KUBE_SERVER"));
    expect(observe.message).not.toContain(token);
    await exercise(driver);
    expect(trap.requests).toEqual([]);
    expect(configured.requests).toEqual([]);
  });
});

describe("file:// artifacts", () => {
  const models = path.join(tmp, "models");
  const outside = path.join(tmp, "outside");
  let tiny: string;
  const uri = (file: string) => pathToFileURL(file).href;

  beforeAll(async () => {
    tiny = (await ensureTinyModel()).path;
    mkdirSync(path.join(models, "family"), { recursive: true });
    mkdirSync(outside, { recursive: true });
    mkdirSync(`${models}-evil`, { recursive: true });
    copyFileSync(tiny, path.join(models, "family", "inside.gguf"));
    // A real, servable model outside the directory: refusing it is the point, not failing to load it.
    copyFileSync(tiny, path.join(outside, "model.gguf"));
    copyFileSync(tiny, path.join(`${models}-evil`, "model.gguf"));
    writeFileSync(path.join(outside, "passwd"), "root:x:0:0\n");
    symlinkSync(path.join(outside, "model.gguf"), path.join(models, "link.gguf"));
    symlinkSync(outside, path.join(models, "escape"));
    symlinkSync(models, path.join(tmp, "models-link"));
  });

  it("default to the project's models folder, or ENCLAVE_MODELS_DIR", () => {
    expect(modelsDirectory()).toBe(DEFAULT_MODELS_DIR);
    env(MODELS_DIR_ENV, models);
    expect(modelsDirectory()).toBe(models);
  });

  it("inside the models directory are served (through a symlinked models directory too)", async () => {
    env(MODELS_DIR_ENV, models);
    expect(await resolveConfinedArtifact(uri(path.join(models, "family", "inside.gguf")))).toBe(path.join(models, "family", "inside.gguf"));
    env(MODELS_DIR_ENV, path.join(tmp, "models-link"));
    expect(await resolveConfinedArtifact(uri(path.join(tmp, "models-link", "family", "inside.gguf")))).toBe(path.join(models, "family", "inside.gguf"));
  });

  it("outside it are refused with a clear error, whether named directly, through `..` or through symbolic links", async () => {
    env(MODELS_DIR_ENV, models);
    const refusals: [string, RegExp][] = [
      [uri(path.join(outside, "model.gguf")), /is outside the models directory .* \(ENCLAVE_MODELS_DIR\)/],
      [uri(path.join(outside, "passwd")), /is outside the models directory/],
      ["file:///etc/passwd", /is outside the models directory/],
      [`${uri(models)}/../outside/model.gguf`, /is outside the models directory/],
      [`${uri(models)}/%2e%2e/outside/model.gguf`, /is outside the models directory/],
      [`${uri(models)}-evil/model.gguf`, /is outside the models directory/],
      [uri(path.join(models, "link.gguf")), /leads outside the models directory .* through a symbolic link/],
      [uri(path.join(models, "escape", "model.gguf")), /through a symbolic link/],
      [uri(path.join(models, "family")), /is not a regular file/],
      [uri(path.join(models, "missing.gguf")), /does not exist/],
      [uri(models), /is outside the models directory/],
    ];
    for (const [artifact, message] of refusals) {
      const error = await rejection(resolveConfinedArtifact(artifact));
      expect(error.message, artifact).toMatch(message);
      expect(error.retryable).toBe(false);
    }
  });

  it("outside it are refused by the local driver before any file is written or process started", async () => {
    env(MODELS_DIR_ENV, models);
    const stateDir = path.join(tmp, "local-cluster");
    const driver = new LocalDriver({ stateDir, portRange: { from: 19900, to: 19999 } });
    for (const file of [path.join(outside, "model.gguf"), path.join(models, "link.gguf")]) {
      const replica = spec({ artifactUri: uri(file) });
      const error = await rejection(driver.apply(replica));
      expect(error.message).toMatch(/outside the models directory/);
      expect(existsSync(stateDir) ? readdirSync(stateDir) : []).toEqual([]);
      const marked = readdirSync("/proc")
        .filter((entry) => /^\d+$/.test(entry))
        .filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`${REPLICA_MARKER}${replica.replicaId}`);
          } catch {
            return false;
          }
        });
      expect(marked).toEqual([]);
    }
  });

  it("outside it are refused by a Slurm region before any job is submitted", async () => {
    env(MODELS_DIR_ENV, models);
    const slurmrestd = await recorder();
    const r = region("SLURM", null);
    env(regionSettingName(r.code, "SLURM_TOKEN"), "t");
    env(regionSettingName(r.code, "SLURM_USER"), "enclave");
    env(regionSettingName(r.code, "SLURM_URL"), slurmrestd.url);
    const error = await rejection(driverForRegion(r).apply(spec({ artifactUri: uri(path.join(outside, "model.gguf")) })));
    expect(error.message).toMatch(/outside the models directory/);
    expect(slurmrestd.requests.filter((request) => request.method === "POST")).toEqual([]);
  });

  it("outside a Kubernetes cluster's model volume are refused before anything is created", async () => {
    const fake = await FakeKubeApiServer.start();
    try {
      const driver = new KubernetesDriver({ server: fake.url, token: fake.token, skipTLSVerify: true }, { mode: "deployment", modelVolume: { source: { nfs: { server: "nfs", path: "/models" } }, mountPath: "/models" } });
      for (const artifact of ["file:///etc/passwd", "file:///models-evil/model.gguf", "file:///models/../etc/passwd"]) {
        const error = await rejection(driver.apply(spec({ artifactUri: artifact })));
        expect(error.message).toMatch(/outside this Kubernetes cluster's model volume/);
      }
      expect(fake.requests).toEqual([]);
    } finally {
      await fake.stop();
    }
  });
});
