/**
 * The console's side of issue 9: spend figures that agree everywhere, regions whose cluster is not
 * connected shown and refused as such (by the same rule the drivers use), the shared vocabulary
 * in lib/, and the security headers the proxy and next.config.ts send. HTTP-level checks (headers
 * on real pages, 403/404 statuses, no CSP violations) are in e2e/console-hardening.spec.ts.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { NextRequest } from "next/server";
import nextConfig from "@/next.config";
import { config as proxyConfig, proxy } from "@/proxy";
import { REPLICA_LIMIT } from "@/lib/limits";
import { ORG_ROLES as LIB_ROLES } from "@/lib/roles";
import { deploymentName, replicaCount } from "@/lib/schemas";
import { db } from "@/server/db";
import { ORG_ROLES } from "@/server/roles";
import { clusterConnection, regionSettingName, type RegionEndpoint } from "@/server/services/cluster-credentials";
import { listOrganizationsForAdmins, organizationOverview } from "@/server/services/organizations";
import { listRegionsForAdmins, regionsForOrg } from "@/server/services/regions";
import { usageSummary } from "@/server/services/usage";
import { rollUpUsage } from "@/server/services/usage-rollup";
import { KubernetesDriver } from "@/workers/drivers/kubernetes";
import { LocalDriver } from "@/workers/drivers/local";
import { driverForRegion } from "@/workers/drivers/registry";
import { SlurmDriver } from "@/workers/drivers/slurm";
import type { ReplicaSpec } from "@/workers/drivers/types";
import { callerFor, createTenant, databaseDigest, unique, type Tenant } from "../helpers";

const DAY = 24 * 3600 * 1000;

describe("spend: GPU time plus requests, the same figure on the overview, the usage page and the admin list", () => {
  let t: Tenant;

  beforeAll(async () => {
    t = await createTenant("spend");
    const now = Date.now();
    const slice = (daysAgo: number, costMicroEur: bigint) => ({
      orgId: t.org.id,
      deploymentId: t.deployment.id,
      regionId: t.region.id,
      gpuTypeId: t.gpuType.id,
      gpuCount: 1,
      periodStart: new Date(now - daysAgo * DAY - 60_000),
      periodEnd: new Date(now - daysAgo * DAY),
      gpuSeconds: 60,
      costMicroEur,
    });
    // In the 30-day window: €1.25 + €0.50 of GPU time. Outside it: €100, which no figure counts.
    await db.gpuUsage.createMany({ data: [slice(1, 1_250_000n), slice(12, 500_000n), slice(45, 100_000_000n)] });
    const call = (daysAgo: number, costMicroEur: number) => ({
      orgId: t.org.id,
      apiKeyId: t.apiKey.id,
      deploymentId: t.deployment.id,
      endpoint: "/v1/chat/completions",
      tokensIn: 10,
      tokensOut: 5,
      latencyMs: 20,
      status: 200,
      costMicroEur,
      createdAt: new Date(now - daysAgo * DAY),
    });
    // createTenant already wrote one call of 42 micro-euros today.
    await db.usageRecord.createMany({ data: [call(2, 300_000), call(40, 9_000_000)] });
    // Every figure reads the roll-ups (server/services/usage.ts).
    await rollUpUsage();
  });

  it("counts both in every place, and only what falls in the window", async () => {
    const expected = { gpuTimeEur: 1.75, requestsEur: 0.300042, totalEur: 2.050042 };
    const overview = await organizationOverview(t.org.id);
    const usage = await usageSummary({ orgId: t.org.id, period: "30d" });
    const adminRow = (await listOrganizationsForAdmins()).find((o) => o.id === t.org.id)!;

    expect(overview.last30Days.spend).toEqual(expected);
    expect({ gpuTimeEur: usage.totals.gpuCostMicroEur / 1e6, requestsEur: usage.totals.tokenCostMicroEur / 1e6, totalEur: usage.totals.costMicroEur / 1e6 }).toEqual(expected);
    expect(adminRow.spendLast30Days).toEqual(expected);
    // The usage page's series adds up to the same figure.
    expect(usage.series.reduce((sum, p) => sum + p.costMicroEur, 0) / 1e6).toBeCloseTo(expected.totalEur, 9);
  });

  it("is zero, not missing, for an organisation that spent nothing", async () => {
    const idle = await createTenant("idle");
    await db.usageRecord.deleteMany({ where: { orgId: idle.org.id } });
    await rollUpUsage();
    expect((await organizationOverview(idle.org.id)).last30Days.spend).toEqual({ gpuTimeEur: 0, requestsEur: 0, totalEur: 0 });
    expect((await listOrganizationsForAdmins()).find((o) => o.id === idle.org.id)!.spendLast30Days.totalEur).toBe(0);
  });
});

describe("regions whose cluster is not connected to this installation", () => {
  const touched = new Set<string>();
  const setEnv = (code: string, name: string, value: string) => {
    const key = regionSettingName(code, name);
    touched.add(key);
    process.env[key] = value;
  };
  afterEach(() => {
    for (const key of touched) delete process.env[key];
    touched.clear();
  });

  it("the rule: local always connects; Slurm needs URL, user and token; Kubernetes server and token; a token never follows another endpoint", () => {
    const region = (driverKind: RegionEndpoint["driverKind"], driverEndpoint: string | null = null): RegionEndpoint => ({ code: "fi-kajaani-lumi", driverKind, driverEndpoint });
    expect(clusterConnection(region("LOCAL"), {})).toEqual({ state: "connected", credentials: { kind: "LOCAL" } });

    expect(clusterConnection(region("SLURM", "https://slurm.example/slurm/v0.0.38"), {})).toMatchObject({
      state: "not_connected",
      missing: ["ENCLAVE_REGION_FI_KAJAANI_LUMI_SLURM_URL", "ENCLAVE_REGION_FI_KAJAANI_LUMI_SLURM_USER", "ENCLAVE_REGION_FI_KAJAANI_LUMI_SLURM_TOKEN"],
    });
    const slurmEnv = {
      ENCLAVE_REGION_FI_KAJAANI_LUMI_SLURM_URL: "https://slurm.example",
      ENCLAVE_REGION_FI_KAJAANI_LUMI_SLURM_USER: "enclave",
      ENCLAVE_REGION_FI_KAJAANI_LUMI_SLURM_TOKEN: "  ",
    };
    // A blank value counts as unset.
    expect(clusterConnection(region("SLURM"), slurmEnv)).toMatchObject({ state: "not_connected", missing: ["ENCLAVE_REGION_FI_KAJAANI_LUMI_SLURM_TOKEN"] });
    const slurm = { ...slurmEnv, ENCLAVE_REGION_FI_KAJAANI_LUMI_SLURM_TOKEN: "secret" };
    expect(clusterConnection(region("SLURM", "https://slurm.example/slurm/v0.0.38"), slurm)).toMatchObject({ state: "connected", credentials: { kind: "SLURM", restUrl: "https://slurm.example", userName: "enclave", token: "secret" } });
    const moved = clusterConnection(region("SLURM", "https://elsewhere.example"), slurm);
    expect(moved).toMatchObject({ state: "misconfigured", missing: [] });
    expect(JSON.stringify(moved)).not.toContain("secret");

    expect(clusterConnection(region("KUBERNETES", "https://k8s.example:6443"), { ENCLAVE_REGION_FI_KAJAANI_LUMI_KUBE_TOKEN: "t" })).toMatchObject({
      state: "not_connected",
      missing: ["ENCLAVE_REGION_FI_KAJAANI_LUMI_KUBE_SERVER"],
    });
    expect(clusterConnection(region("KUBERNETES", "https://k8s.example:6443/"), { ENCLAVE_REGION_FI_KAJAANI_LUMI_KUBE_TOKEN: "t", ENCLAVE_REGION_FI_KAJAANI_LUMI_KUBE_SERVER: "https://K8S.example:6443" })).toMatchObject({
      state: "connected",
    });
  });

  it("the drivers follow the same rule: a region the console calls not connected gets a driver that refuses with that reason", async () => {
    const spec: ReplicaSpec = {
      replicaId: unique("replica"),
      deploymentId: unique("deployment"),
      servedModelName: "m",
      tenant: "t",
      revision: 1,
      model: { slug: "m", artifactUri: "local://tiny-random-llama", artifactSha256: "0".repeat(64), runtime: "LLAMA_CPP", contextLength: 64 },
      gpu: { type: "H100", count: 1 },
    };
    const cases: { driverKind: RegionEndpoint["driverKind"]; endpoint: string | null; env: Record<string, string> }[] = [
      { driverKind: "LOCAL", endpoint: null, env: {} },
      { driverKind: "SLURM", endpoint: null, env: {} },
      { driverKind: "SLURM", endpoint: null, env: { SLURM_URL: "http://127.0.0.1:9", SLURM_USER: "enclave", SLURM_TOKEN: "t" } },
      { driverKind: "SLURM", endpoint: "http://127.0.0.1:10/slurm/v0.0.38", env: { SLURM_URL: "http://127.0.0.1:9", SLURM_USER: "enclave", SLURM_TOKEN: "t" } },
      { driverKind: "KUBERNETES", endpoint: "http://127.0.0.1:9", env: { KUBE_TOKEN: "t" } },
      { driverKind: "KUBERNETES", endpoint: "http://127.0.0.1:9", env: { KUBE_TOKEN: "t", KUBE_SERVER: "http://127.0.0.1:9" } },
    ];
    for (const c of cases) {
      // A fresh code per case: the registry caches one driver per region.
      const region = { code: unique("conn"), driverKind: c.driverKind, driverEndpoint: c.endpoint, capacities: [] };
      for (const [name, value] of Object.entries(c.env)) setEnv(region.code, name, value);
      const connection = clusterConnection(region);
      const driver = driverForRegion(region);
      const drives = driver instanceof LocalDriver || driver instanceof SlurmDriver || driver instanceof KubernetesDriver;
      expect({ case: c, drives }).toEqual({ case: c, drives: connection.state === "connected" });
      if (connection.state !== "connected") await expect(async () => driver.apply(spec)).rejects.toThrow(connection.reason);
    }
  });

  it("tenants see it on the regions page and in the wizard, cannot deploy there, and admins see what to set", async () => {
    const t = await createTenant("unconnected");
    const owner = callerFor(t.ownerId);
    const kube = await db.region.create({
      data: {
        code: unique("de-kube"),
        name: "Kubernetes region",
        provider: "Test",
        country: "DE",
        city: "Berlin",
        jurisdiction: "DE",
        certifications: ["SecNumCloud"],
        driverKind: "KUBERNETES",
        driverEndpoint: "https://k8s.de.example:6443",
        carbonIntensityGco2Kwh: 300,
        capacities: { create: { gpuTypeId: t.gpuType.id, totalGpus: 8, priceCentsPerGpuHour: 200 } },
      },
    });
    await db.quota.create({ data: { orgId: t.org.id, regionId: kube.id, gpuTypeId: t.gpuType.id, limitGpus: 4 } });
    await db.catalogModel.update({ where: { id: t.model.id }, data: { fitsGpuTypes: { connect: { id: t.gpuType.id } } } });

    const listed = (await regionsForOrg(t.org.id)).find((r) => r.id === kube.id)!;
    expect(listed.connection).toEqual({ connected: false, reason: expect.stringMatching(/^Not connected to this installation/) });
    expect(JSON.stringify(listed)).not.toContain("k8s.de.example");
    expect((await regionsForOrg(t.org.id)).find((r) => r.id === t.region.id)!.connection).toEqual({ connected: true, reason: null });

    const options = await owner.deployments.options({ orgId: t.org.id, catalogModelId: t.model.id, dataClassification: "INTERNAL" });
    const option = options.find((o) => o.region.id === kube.id)!;
    expect(option).toMatchObject({ allowed: false, region: { connected: false } });
    expect(option.reasons).toContain(listed.connection.reason);
    expect(options.find((o) => o.region.id === t.region.id)).toMatchObject({ reasons: [], allowed: true, region: { connected: true } });

    const input = { orgId: t.org.id, name: unique("kube"), catalogModelId: t.model.id, regionId: kube.id, gpuTypeId: t.gpuType.id, replicas: 1, minReplicas: 1, maxReplicas: 1, dataClassification: "INTERNAL" as const };
    const before = await databaseDigest();
    await expect(owner.deployments.create(input)).rejects.toThrow(/Not connected to this installation/);
    expect(await databaseDigest()).toBe(before);

    const adminView = (await listRegionsForAdmins()).find((r) => r.id === kube.id)!;
    expect(adminView.connection).toEqual({
      connected: false,
      misconfigured: false,
      reason: expect.stringContaining("Kubernetes cluster is not connected"),
      missingSettings: [regionSettingName(kube.code, "KUBE_SERVER"), regionSettingName(kube.code, "KUBE_TOKEN")],
    });

    // An operator connects it: the same region is offered, and takes the deployment.
    setEnv(kube.code, "KUBE_SERVER", "https://k8s.de.example:6443");
    setEnv(kube.code, "KUBE_TOKEN", "token");
    const connected = (await owner.deployments.options({ orgId: t.org.id, catalogModelId: t.model.id, dataClassification: "INTERNAL" })).find((o) => o.region.id === kube.id)!;
    expect(connected).toMatchObject({ allowed: true, reasons: [], region: { connected: true } });
    expect((await listRegionsForAdmins()).find((r) => r.id === kube.id)!.connection).toMatchObject({ connected: true, missingSettings: [] });
    await expect(owner.deployments.create(input)).resolves.toMatchObject({ name: input.name });
  });
});

describe("shared vocabulary (lib/)", () => {
  it("the server's roles and the wizard's rules are lib's", () => {
    expect(ORG_ROLES).toBe(LIB_ROLES);
    expect(deploymentName.safeParse("triage-assistant").success).toBe(true);
    expect(deploymentName.safeParse("Not A Name").error?.issues[0]?.message).toBe("Use lower-case letters, digits and dashes, starting and ending with a letter or digit");
    expect(replicaCount("Replicas").safeParse(REPLICA_LIMIT + 1).error?.issues[0]?.message).toBe(`Replicas must be at most ${REPLICA_LIMIT}`);
  });
});

describe("security headers", () => {
  const csp = (response: Response) => response.headers.get("content-security-policy") ?? "";

  it("every page gets a Content-Security-Policy with a fresh nonce, on the response and on the request Next.js renders", () => {
    const first = proxy(new NextRequest("http://localhost:3000/o/some-org/usage"));
    const second = proxy(new NextRequest("http://localhost:3000/o/some-org/usage"));
    const nonce = /'nonce-([A-Za-z0-9+/=]+)'/.exec(csp(first))?.[1];
    expect(nonce).toBeTruthy();
    expect(csp(second)).not.toContain(nonce);
    expect(csp(first)).toContain("'strict-dynamic'");
    expect(csp(first)).toContain("frame-ancestors 'none'");
    expect(csp(first)).toContain("object-src 'none'");
    expect(csp(first)).not.toContain("unsafe-eval");
    expect(csp(first)).not.toMatch(/script-src[^;]*'unsafe-inline'/);
    // NextResponse.next({ request }) hands the modified request headers to the renderer this way.
    expect(first.headers.get("x-middleware-request-content-security-policy")).toBe(csp(first));
    expect(first.headers.get("x-middleware-request-x-nonce")).toBe(nonce);
  });

  it("the proxy skips route handlers and static files, which next.config.ts covers", async () => {
    const [matcher] = proxyConfig.matcher;
    const pages = new RegExp(`^${matcher.source}$`);
    for (const path of ["/", "/signin", "/o/acme/deployments/new", "/admin/regions"]) expect(path).toMatch(pages);
    for (const path of ["/api/trpc/account.me", "/api/v1/openapi.json", "/_next/static/chunks/app.js"]) expect(path).not.toMatch(pages);

    const rules = await nextConfig.headers!();
    const everywhere = rules.find((r) => r.source === "/:path*" && !r.has)!.headers;
    expect(Object.fromEntries(everywhere.map((h) => [h.key, h.value]))).toMatchObject({ "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY" });
    const api = rules.find((r) => r.source === "/api/:path*")!.headers.find((h) => h.key === "Content-Security-Policy")!;
    expect(api.value).toContain("frame-ancestors 'none'");
    const hsts = rules.find((r) => r.headers.some((h) => h.key === "Strict-Transport-Security"))!;
    expect(hsts.has).toEqual([expect.objectContaining({ type: "header", key: "x-forwarded-proto" })]);
    expect(new RegExp(`^${hsts.has![0].value}$`).test("https")).toBe(true);
    expect(new RegExp(`^${hsts.has![0].value}$`).test("http")).toBe(false);
  });
});
