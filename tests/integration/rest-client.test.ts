/**
 * A program's view of the REST API: a client generated from the served document
 * (openapi-typescript types + openapi-fetch) drives the main journeys over real HTTP; the
 * document passes `redocly lint`; the committed document and client types are not stale.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import createClient from "openapi-fetch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { apiTypesSource, documentSource } from "../api-client-source";
import type { paths } from "../generated/enclave-api";
import { createTenant, type Tenant } from "../helpers";
import { startRestServer, TEST_SESSION_HEADER, type RestServer } from "../rest-fixtures";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
let server: RestServer;
let t: Tenant;

beforeAll(async () => {
  server = await startRestServer();
  t = await createTenant("rest-client");
  await db.catalogModel.update({ where: { id: t.model.id }, data: { fitsGpuTypes: { connect: { id: t.gpuType.id } } } });
});
afterAll(() => server.close());

describe("the generated client", () => {
  it("is generated from the document the server serves (npm run api:types keeps both files current)", async () => {
    const served = await (await fetch(`${server.url}/openapi.json`)).text();
    expect(JSON.parse(served)).toEqual(JSON.parse(documentSource()));
    expect(readFileSync(path.join(ROOT, "docs", "openapi.json"), "utf8"), "docs/openapi.json is stale: run npm run api:types").toBe(documentSource());
    expect(readFileSync(path.join(ROOT, "tests", "generated", "enclave-api.d.ts"), "utf8"), "the client types are stale: run npm run api:types").toBe(await apiTypesSource());
  });

  it("drives the main journey: a person creates a manage key; the program deploys, scales, reads status and usage; the key is revoked and stops working", async () => {
    const person = createClient<paths>({ baseUrl: server.url, headers: { [TEST_SESSION_HEADER]: t.ownerId, origin: server.origin } });
    const orgId = t.org.slug;

    const created = await person.POST("/orgs/{orgId}/api-keys", { params: { path: { orgId } }, body: { name: "deploy bot", scopes: ["manage"] } });
    expect(created.error).toBeUndefined();
    const secret = created.data!.key;
    expect(secret).toMatch(/^enc_[0-9a-f]{12}_/);

    const program = createClient<paths>({ baseUrl: server.url, headers: { authorization: `Bearer ${secret}` } });
    const options = await program.GET("/orgs/{orgId}/deployment-options", { params: { path: { orgId }, query: { catalogModelId: t.model.id, dataClassification: "INTERNAL" } } });
    expect(options.data?.find((o) => o.region.id === t.region.id)).toMatchObject({ allowed: true });

    const deployment = await program.POST("/orgs/{orgId}/deployments", {
      params: { path: { orgId } },
      headers: { "Idempotency-Key": "journey-create-1" },
      body: { name: "journey-llm", catalogModelId: t.model.id, regionId: t.region.id, gpuTypeId: t.gpuType.id, replicas: 1, minReplicas: 1, maxReplicas: 4, dataClassification: "INTERNAL" },
    });
    expect(deployment.error).toBeUndefined();
    const deploymentId = deployment.data!.id;
    expect(deployment.data).toMatchObject({ name: "journey-llm", replicas: 1, reservedGpus: 1, phase: "PENDING" });

    const scaled = await program.POST("/orgs/{orgId}/deployments/{deploymentId}/scale", { params: { path: { orgId, deploymentId } }, body: { replicas: 3 } });
    expect(scaled.error).toBeUndefined();

    const status = await program.GET("/orgs/{orgId}/deployments/{deploymentId}", { params: { path: { orgId, deploymentId } } });
    expect(status.data).toMatchObject({ id: deploymentId, replicas: 3, reservedGpus: 3, desiredState: "RUNNING", region: { id: t.region.id } });
    expect(typeof status.data!.createdAt).toBe("string");
    expect(status.data!.events.map((e) => e.reason)).toEqual(expect.arrayContaining(["Created", "Scale"]));

    const listed = await program.GET("/orgs/{orgId}/deployments", { params: { path: { orgId }, query: { limit: 10 } } });
    expect(listed.data?.items.map((d) => d.id)).toContain(deploymentId);

    const usage = await program.GET("/orgs/{orgId}/usage/summary", { params: { path: { orgId }, query: { period: "30d" } } });
    expect(usage.error).toBeUndefined();
    expect(JSON.stringify(usage.data)).toContain("requests");

    const tooMany = await program.POST("/orgs/{orgId}/deployments/{deploymentId}/scale", { params: { path: { orgId, deploymentId } }, body: { replicas: 64 } });
    expect(tooMany.response.status).toBeGreaterThanOrEqual(400);
    expect(tooMany.response.status).toBeLessThan(500);
    expect(tooMany.error?.error.message).toMatch(/replicas/i);

    const revoked = await person.POST("/orgs/{orgId}/api-keys/{apiKeyId}/revoke", { params: { path: { orgId, apiKeyId: created.data!.id } } });
    expect(revoked.data?.revokedAt).toBeTruthy();
    const after = await program.GET("/orgs/{orgId}/deployments", { params: { path: { orgId } } });
    expect(after.response.status).toBe(401);
    expect(after.error?.error.code).toBe("api_key_revoked");
  });
});

describe("the document", () => {
  it("passes redocly lint with no error and no warning", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "enclave-openapi-"));
    try {
      const file = path.join(dir, "openapi.json");
      writeFileSync(file, documentSource());
      const { stdout, stderr } = await promisify(execFile)(path.join(ROOT, "node_modules", ".bin", "redocly"), ["lint", file], { cwd: dir, env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" } });
      const output = stdout + stderr;
      expect(output).toContain("Your API description is valid");
      expect(output).not.toMatch(/warnings?\./);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
