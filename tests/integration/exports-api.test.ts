/**
 * The export entry points over REST (docs/export-format.md): `POST /orgs/{orgId}/exports` writes a
 * signed archive into the installation's storage and answers its SHA-256 and size, the list shows
 * it, and the download streams exactly those bytes — to owners, admins and `manage` keys of the
 * organisation only, by the same access checks as the procedures. A read key, another
 * organisation's key and another organisation's export id are refused.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyArchive } from "@/server/exports/archive";
import { downloadExport, uploadImport } from "@/server/exports/http";
import { createTenant, type Tenant } from "../helpers";
import { call, issueKey, startRestServer, type RestServer } from "../rest-fixtures";

const dir = mkdtempSync(path.join(os.tmpdir(), "enclave-exports-api-"));
process.env.EXPORTS_DIR = dir;
process.env.AUDIT_SIGNING_KEY ??= randomBytes(32).toString("base64");

let server: RestServer;
let a: Tenant;
let b: Tenant;
let manageA: string;
let readA: string;
let manageB: string;

beforeAll(async () => {
  server = await startRestServer();
  a = await createTenant("export-a");
  b = await createTenant("export-b");
  manageA = (await issueKey(a.org.id, a.ownerId, ["manage"])).key;
  readA = (await issueKey(a.org.id, a.ownerId, ["read"])).key;
  manageB = (await issueKey(b.org.id, b.ownerId, ["manage"])).key;
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const download = (orgId: string, exportId: string, key: string) =>
  downloadExport(new Request(`http://localhost/api/v1/orgs/${orgId}/exports/${exportId}/download`, { headers: { authorization: `Bearer ${key}` } }), { orgId, exportId });

describe("exports over REST", () => {
  it("creates an archive, lists it and downloads exactly its bytes", async () => {
    const created = await call(server, "POST", `/orgs/${a.org.id}/exports`, { auth: manageA });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    expect(created.body).toMatchObject({ id: expect.any(String), sha256: expect.stringMatching(/^[0-9a-f]{64}$/), bytes: expect.any(Number) });
    const list = await call(server, "GET", `/orgs/${a.org.slug}/exports`, { auth: manageA });
    expect(list.body.items.map((e: { id: string }) => e.id)).toContain(created.body.id);
    const response = await download(a.org.id, created.body.id, manageA);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/gzip");
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(bytes.length).toBe(created.body.bytes);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(created.body.sha256);
    const file = path.join(dir, "downloaded.tar.gz");
    (await import("node:fs")).writeFileSync(file, bytes);
    const verified = await verifyArchive(file, {});
    expect(verified.problems).toEqual([]);
    expect(verified.manifest?.organization.id).toBe(a.org.id);
    expect(verified.manifest?.files.map((f) => f.path)).toEqual(expect.arrayContaining(["api-keys.json", "usage/focus.csv", "traces/traces.jsonl", "audit/events.jsonl"]));
  });

  it("refuses a read key, another organisation's key and another organisation's export", async () => {
    expect((await call(server, "POST", `/orgs/${a.org.id}/exports`, { auth: readA })).status).toBe(403);
    expect((await call(server, "POST", `/orgs/${a.org.id}/exports`, { auth: manageB })).status).toBe(403);
    expect((await call(server, "GET", `/orgs/${a.org.id}/exports`, { auth: manageB })).status).toBe(403);
    const created = await call(server, "POST", `/orgs/${a.org.id}/exports`, { auth: manageA });
    expect((await download(a.org.id, created.body.id, readA)).status).toBe(403);
    expect((await download(a.org.id, created.body.id, manageB)).status).toBe(403);
    // B's own organisation, A's export id: not found, as any unknown id.
    expect((await download(b.org.id, created.body.id, manageB)).status).toBe(404);
  });

  it("refuses an import upload from an API key, whatever its scopes", async () => {
    const response = await uploadImport(new Request("http://localhost/api/v1/admin/imports", { method: "POST", headers: { authorization: `Bearer ${manageA}`, "content-type": "application/gzip" }, body: "x" }));
    expect(response.status).toBe(403);
  });
});
