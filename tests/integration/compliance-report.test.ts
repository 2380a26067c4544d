/**
 * The compliance dashboard and report (docs/compliance.md) against a real PostgreSQL and real HTTP:
 * an organisation with a compliant deployment (France, SecNumCloud) and a non-compliant one
 * (CONFIDENTIAL data in a region exposed to US law, which its policy refuses), traffic in both
 * (inside and outside the period), guardrail verdicts, audit events and a signed checkpoint.
 * The JSON report is validated with ajv against the committed, published schema (which must equal
 * the one generated from the zod definition, and must reject a broken report); its figures are
 * checked against what the raw rows say, computed here. The PDF is downloaded through its route
 * handler, opened with pdfjs-dist and its text checked. Access goes through the same ladder as
 * every procedure: a viewer, a read key and another organisation are refused.
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifierKey } from "@/server/audit/keys";
import { chainOf, createCheckpoint } from "@/server/audit/log";
import { db } from "@/server/db";
import { decodeOutcome, outcomeCode } from "@/server/guardrails/types";
import { recordAudit, systemActor } from "@/server/services/audit";
import { complianceOverview, recordChainVerification } from "@/server/services/compliance";
import { complianceReportJsonSchema } from "@/server/services/compliance-report-schema";
import { complianceReportSchemaResponse, handleComplianceReportPdf } from "@/server/services/compliance-report-http";
import { verifyAuditChain } from "@/server/services/audit";
import { rollUpUsage } from "@/server/services/usage-rollup";
import { callerFor, createTenant, createUser, gpuRegionFixture, outcome, unique, type Tenant } from "../helpers";
import { call, issueKey, startRestServer, TEST_SESSION_HEADER, type RestServer } from "../rest-fixtures";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const now = Date.now();
const from = new Date(now - 3 * DAY).toISOString();
/** Set once the data is in: the period ends after the audit events of the set-up. */
let to: string;

let a: Tenant;
let b: Tenant;
let exposed: Awaited<ReturnType<typeof gpuRegionFixture>>;
let badDeployment: { id: string; name: string };
let rest: RestServer;
let pdfServer: { url: string; close(): Promise<void> };

const schemaFile = path.resolve(import.meta.dirname, "..", "..", "docs", "schemas", "compliance-report.schema.json");
const publishedSchema = JSON.parse(readFileSync(schemaFile, "utf8"));
const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats(ajv);
const validate = ajv.compile(publishedSchema);

/** The route handler of app/api/v1/orgs/[orgId]/compliance/report.pdf on a real HTTP server (sessions by the test header, as in rest-fixtures). */
async function startPdfServer() {
  const server = http.createServer(async (req, res) => {
    const origin = `http://${req.headers.host}`;
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
    const match = /^\/api\/v1\/orgs\/([^/]+)\/compliance\/report\.pdf/.exec(req.url ?? "");
    const response = match
      ? await handleComplianceReportPdf(new Request(origin + req.url, { headers }), decodeURIComponent(match[1]!), { resolveSession: async (r) => r.headers.get(TEST_SESSION_HEADER) })
      : new Response("not found", { status: 404 });
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/api/v1`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const pdfUrl = (orgId: string, q = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`) => `${pdfServer.url}/orgs/${orgId}/compliance/report.pdf?${q}`;

async function pdfText(bytes: Uint8Array): Promise<string> {
  const { getDocument } = await import("pdfjs-dist/legacy/build/pdf.mjs");
  const doc = await getDocument({ data: bytes, useSystemFonts: false, disableFontFace: true, isEvalSupported: false, standardFontDataUrl: `${path.resolve("node_modules/pdfjs-dist/standard_fonts")}/` }).promise;
  const pages: string[] = [];
  for (let i = 1; i <= doc.numPages; i++) {
    const content = await (await doc.getPage(i)).getTextContent();
    pages.push(content.items.map((item) => ("str" in item ? item.str + (item.hasEOL ? "\n" : "") : "")).join(""));
  }
  await doc.destroy();
  return pages.join("\n");
}

beforeAll(async () => {
  a = await createTenant("compliance-report");
  b = await createTenant("compliance-other");
  exposed = await gpuRegionFixture({ jurisdiction: "US", certifications: [], extraterritorialExposure: true });
  await db.region.update({ where: { id: exposed.region.id }, data: { exposureNote: "US CLOUD Act" } });
  // CONFIDENTIAL: France only, no extraterritorial exposure; the deployment in the exposed region breaks it.
  await db.residencyPolicy.create({ data: { orgId: a.org.id, dataClassification: "CONFIDENTIAL", allowedJurisdictions: ["FR"], requiredCertifications: [], allowExtraterritorial: false } });
  badDeployment = await db.deployment.create({
    data: { orgId: a.org.id, name: unique("us-analytics"), catalogModelId: a.model.id, regionId: exposed.region.id, gpuTypeId: exposed.gpuType.id, gpusPerReplica: 1, dataClassification: "CONFIDENTIAL", createdById: a.ownerId },
    select: { id: true, name: true },
  });

  // Traffic: 40 requests in France and 25 in the exposed region inside the period, 10 before it; verdicts on most.
  const rows = [];
  for (let i = 0; i < 75; i++) {
    const inPeriod = i < 65;
    const deploymentId = i % 65 < 40 ? a.deployment.id : badDeployment.id;
    const guardrails = i % 5 === 0 ? [] : [outcomeCode("pii.input", i % 3 === 0 ? "blocked" : "pass"), outcomeCode("schema.output", i % 4 === 0 ? "flagged" : "pass")];
    rows.push({
      orgId: a.org.id,
      apiKeyId: a.apiKey.id,
      deploymentId,
      endpoint: "/v1/chat/completions",
      tokensIn: 10 + i,
      tokensOut: 20 + 2 * i,
      latencyMs: 30,
      status: i % 13 === 0 ? 500 : 200,
      costMicroEur: 5,
      guardrails,
      createdAt: new Date(inPeriod ? now - HOUR - (i % 48) * HOUR : now - 10 * DAY - i * HOUR),
    });
  }
  await db.usageRecord.createMany({ data: rows });
  await rollUpUsage();

  // Audit events, then a signed checkpoint over all of them, then one more event after it.
  await db.$transaction((tx) => recordAudit(tx, systemActor("compliance test"), { orgId: a.org.id, action: "residency.policy_set", targetType: "ResidencyPolicy", after: { dataClassification: "CONFIDENTIAL" } }));
  await db.$transaction((tx) => recordAudit(tx, systemActor("compliance test"), { orgId: a.org.id, action: "deployment.created", targetType: "Deployment", targetId: badDeployment.id }));
  await createCheckpoint(chainOf(a.org.id), { witness: false });
  await db.$transaction((tx) => recordAudit(tx, systemActor("compliance test"), { orgId: a.org.id, action: "deployment.created", targetType: "Deployment", targetId: a.deployment.id }));

  to = new Date().toISOString();
  rest = await startRestServer();
  pdfServer = await startPdfServer();
});

afterAll(async () => {
  await rest?.close();
  await pdfServer?.close();
});

/** What the raw rows say over the report's counted hours, computed here. */
async function expectedFromRows(countedFrom: string, countedTo: string) {
  const rows = await db.usageRecord.findMany({ where: { orgId: a.org.id, createdAt: { gte: new Date(countedFrom), lt: new Date(countedTo) } } });
  const inRegion = (regionId: string) => rows.filter((r) => (r.deploymentId === badDeployment.id ? exposed.region.id : a.region.id) === regionId);
  const sum = (xs: typeof rows, k: "tokensIn" | "tokensOut") => xs.reduce((n, r) => n + Number(r[k]), 0);
  const verdicts = { checked: 0, passed: 0, flagged: 0, blocked: 0 };
  for (const r of rows)
    for (const code of (r.guardrails as number[] | null) ?? []) {
      const d = decodeOutcome(code)!;
      verdicts.checked++;
      if (d.outcome === "pass") verdicts.passed++;
      if (d.outcome === "flagged") verdicts.flagged++;
      if (d.outcome === "blocked") verdicts.blocked++;
    }
  return { rows, exposedRows: inRegion(exposed.region.id), franceRows: inRegion(a.region.id), sum, verdicts };
}

describe("the compliance report (JSON)", () => {
  it("the committed schema is the one generated from the report's definition, and it is not vacuous", async () => {
    expect(publishedSchema).toEqual(complianceReportJsonSchema());
    expect(publishedSchema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    // Served as published (app/api/v1/schemas/compliance-report.json).
    const served = complianceReportSchemaResponse();
    expect(served.headers.get("content-type")).toBe("application/schema+json");
    expect(await served.json()).toEqual(publishedSchema);
    const openapi = await fetch(`${rest.origin}/api/v1/openapi.json`).then((r) => r.json());
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(["/orgs/{orgId}/compliance/report", "/orgs/{orgId}/compliance/overview", "/admin/compliance/overview"]));
  });

  it("validates against the published schema, and a broken one does not", async () => {
    const res = await call(rest, "GET", `/orgs/${a.org.id}/compliance/report?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`, { auth: { session: a.ownerId } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const report = res.body;
    expect(validate(report), JSON.stringify(validate.errors)).toBe(true);

    const broken: [string, (r: any) => void][] = [ // eslint-disable-line @typescript-eslint/no-explicit-any
      ["no checkpoint field", (r) => delete r.checkpoint],
      ["a negative count", (r) => (r.compliance.nonCompliant = -1)],
      ["a root that is not hex", (r) => (r.checkpoint.rootHash = "not-a-root")],
      ["an unknown status", (r) => (r.deployments[0].status = "mostly_compliant")],
      ["an unknown field", (r) => (r.extra = true)],
      ["a date that is not RFC 3339", (r) => (r.period.from = "yesterday")],
      ["retention below six months claimed as the minimum", (r) => (r.aiAct.article19And26_6.minimumDays = 30)],
    ];
    for (const [what, breakIt] of broken) {
      const copy = structuredClone(report);
      breakIt(copy);
      expect(validate(copy), what).toBe(false);
    }
  });

  it("its figures are what the data says", async () => {
    const report = await callerFor(a.ownerId).compliance.report({ orgId: a.org.id, from, to });
    const e = await expectedFromRows(report.period.countedFrom, report.period.countedTo);
    expect(e.rows.length).toBe(66); // 65 inside the period + the tenant fixture's one record
    expect(report.organization).toEqual({ id: a.org.id, slug: a.org.slug, name: a.org.name, status: "ACTIVE" });
    expect(report.period.from).toBe(from);
    expect(report.period.to).toBe(to);

    // Usage and residency: where it was processed, under which law, and what was exposed.
    expect(report.usage.requests).toBe(e.rows.length);
    expect(report.usage.errors).toBe(e.rows.filter((r) => r.status >= 400).length);
    expect(report.usage.tokensIn).toBe(e.sum(e.rows, "tokensIn"));
    expect(report.aiAct.article12.requestsLogged).toBe(e.rows.length);
    const byRegion = Object.fromEntries(report.residency.processing.map((p) => [p.region?.code ?? "", p]));
    expect(byRegion[exposed.region.code]).toMatchObject({ requests: e.exposedRows.length, tokensIn: e.sum(e.exposedRows, "tokensIn"), tokensOut: e.sum(e.exposedRows, "tokensOut") });
    expect(byRegion[exposed.region.code].region).toMatchObject({ jurisdiction: "US", extraterritorialExposure: true, exposureNote: "US CLOUD Act" });
    expect(byRegion[a.region.code]).toMatchObject({ requests: e.franceRows.length, tokensIn: e.sum(e.franceRows, "tokensIn") });
    expect(report.residency.exposure).toEqual({
      exposedRegions: [exposed.region.code],
      deploymentsInExposedRegions: 1,
      requests: e.exposedRows.length,
      tokensIn: e.sum(e.exposedRows, "tokensIn"),
      tokensOut: e.sum(e.exposedRows, "tokensOut"),
      shareOfRequests: e.exposedRows.length / e.rows.length,
    });

    // Deployments by compliance status, with the policy's reasons.
    expect(report.compliance).toEqual({ deployments: 2, compliant: 1, nonCompliant: 1 });
    const bad = report.deployments.find((d) => d.id === badDeployment.id)!;
    expect(bad).toMatchObject({ name: badDeployment.name, status: "non_compliant", policy: "applied", dataClassification: "CONFIDENTIAL" });
    expect(bad.reasons.length).toBeGreaterThan(0);
    expect(report.deployments.find((d) => d.id === a.deployment.id)).toMatchObject({ status: "compliant" });
    expect(report.residency.policies.map((p) => p.dataClassification).sort()).toEqual(["CONFIDENTIAL", "RESTRICTED"]);

    // Guardrail verdicts.
    expect(report.guardrails.totals).toMatchObject(e.verdicts);
    expect(report.guardrails.totals.failed).toBe(e.verdicts.flagged + e.verdicts.blocked);

    // The audit log: the checkpoint it was built at, signed by the installation's key, and a fresh verification.
    const events = await db.auditEvent.count({ where: { chain: chainOf(a.org.id) } });
    const checkpoint = await db.auditCheckpoint.findFirstOrThrow({ where: { chain: chainOf(a.org.id) }, orderBy: { treeSize: "desc" } });
    expect(report.checkpoint).toMatchObject({ treeSize: events - 1, rootHash: checkpoint.rootHash, note: checkpoint.note });
    expect(report.checkpoint!.note).toContain(Buffer.from(checkpoint.rootHash, "hex").toString("base64"));
    expect(report.installation.verifierKey).toBe(await verifierKey());
    expect(report.auditLog.events).toBe(events);
    expect(report.auditLog.verification).toMatchObject({ ok: true, events, brokenAtSeq: null });
    expect(report.auditLog.actionsInPeriod.find((x) => x.action === "deployment.created")?.count).toBe(2);
    expect(report.auditLog.eventsInPeriod).toBe(events);

    // Retention in force against the AI Act's six months.
    expect(report.aiAct.article19And26_6).toMatchObject({ minimumDays: 180, traceRetentionDays: 180, usageRecordRetentionDays: 400, meetsMinimum: true });
    expect(report.retention.contentCapture).toEqual({ activeKeys: await db.apiKey.count({ where: { orgId: a.org.id, revokedAt: null } }), keysCapturingContent: 0 });
  });

  it("refuses a period that is reversed, too long, in the future or not a date, with precise messages", async () => {
    const ask = (q: string) => call(rest, "GET", `/orgs/${a.org.id}/compliance/report?${q}`, { auth: { session: a.ownerId } });
    const cases: [string, string, RegExp][] = [
      [`from=${encodeURIComponent(to)}&to=${encodeURIComponent(from)}`, "from", /^from \(.*\) must be before to \(/],
      ["from=2024-01-01&to=2025-06-01", "from", /^The period is 518 days long; a report covers at most 400 days$/],
      [`from=${encodeURIComponent(from)}&to=${new Date(now + 3 * DAY).toISOString().slice(0, 10)}`, "to", /^to \(.*\) is in the future; a report covers time that has passed/],
      [`from=last-week&to=${encodeURIComponent(to)}`, "from", /^from must be a date \(2026-11-01\) or an RFC 3339 date-time with its offset/],
      [`from=2026-02-30&to=${encodeURIComponent(to)}`, "from", /^from is not a real date: "2026-02-30"$/],
      [`to=${encodeURIComponent(to)}`, "from", /from is required: a date/],
    ];
    for (const [q, param, message] of cases) {
      const res = await ask(q);
      expect(res.status, q).toBe(400);
      expect(res.body.error.param, q).toBe(param);
      expect(res.body.error.message, q).toMatch(message);
    }
    // A date alone as `to` means through the end of that day (today's: now).
    const ok = await ask(`from=${from.slice(0, 10)}&to=${to.slice(0, 10)}`);
    expect(ok.status).toBe(200);
    expect(ok.body.period.from).toBe(`${from.slice(0, 10)}T00:00:00.000Z`);
  });

  it("is the organisation's admins' and owners': a viewer, a read key and another organisation are refused", async () => {
    const q = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
    expect((await call(rest, "GET", `/orgs/${a.org.id}/compliance/report?${q}`, { auth: { session: a.viewer.user.id } })).status).toBe(403);
    expect((await call(rest, "GET", `/orgs/${a.org.id}/compliance/report?${q}`, { auth: { session: b.ownerId } })).status).toBe(403);
    const read = await issueKey(a.org.id, a.ownerId, ["read"]);
    expect((await call(rest, "GET", `/orgs/${a.org.id}/compliance/report?${q}`, { auth: read.key })).status).toBe(403);
    const manage = await issueKey(a.org.id, a.ownerId, ["manage"]);
    expect((await call(rest, "GET", `/orgs/${a.org.id}/compliance/report?${q}`, { auth: manage.key })).status).toBe(200);
    expect((await call(rest, "GET", `/orgs/${a.org.id}/compliance/report?${q}`, {})).status).toBe(401);
  });
});

describe("the compliance report (PDF)", () => {
  it("opens, and its text carries the organisation, the period, the non-compliant deployment and the checkpoint root", async () => {
    const res = await fetch(pdfUrl(a.org.slug), { headers: { [TEST_SESSION_HEADER]: a.ownerId } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/pdf");
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="compliance-${a.org.slug}-${from.slice(0, 10)}-${to.slice(0, 10)}.pdf"`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(Buffer.from(bytes.subarray(0, 5)).toString()).toBe("%PDF-");
    const text = await pdfText(bytes);
    const checkpoint = await db.auditCheckpoint.findFirstOrThrow({ where: { chain: chainOf(a.org.id) }, orderBy: { treeSize: "desc" } });
    expect(text).toContain(a.org.name);
    expect(text).toContain(`${from.slice(0, 10)} to ${to.slice(0, 10)}`);
    expect(text).toContain(`${badDeployment.name}: NON-COMPLIANT`);
    expect(text).toContain(`${a.deployment.name}: compliant`);
    expect(text).toContain(checkpoint.rootHash);
    expect(text).toContain(exposed.region.code);
    expect(text).toContain("1 compliant, 1 non-compliant");
  });

  it("is scoped like the JSON report, with the REST error shape", async () => {
    const viewer = await fetch(pdfUrl(a.org.id), { headers: { [TEST_SESSION_HEADER]: a.viewer.user.id } });
    expect(viewer.status).toBe(403);
    expect((await viewer.json()).error.code).toBe("insufficient_role");
    const other = await fetch(pdfUrl(a.org.id), { headers: { [TEST_SESSION_HEADER]: b.ownerId } });
    expect(other.status).toBe(403);
    expect((await other.json()).error.code).toBe("not_a_member");
    expect((await fetch(pdfUrl(a.org.id))).status).toBe(401);
    const bad = await fetch(pdfUrl(a.org.id, "from=2026-01-01&to=2025-01-01"), { headers: { [TEST_SESSION_HEADER]: a.ownerId } });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatchObject({ param: "from", message: expect.stringMatching(/must be before to/) });
  });
});

describe("the compliance dashboard", () => {
  it("shows deployments by status, exposure, guardrails, audit integrity and retention", async () => {
    const o = await complianceOverview(a.org.id, "7d", new Date(now));
    const e = await expectedFromRows(new Date(now - 7 * DAY).toISOString(), new Date(now + HOUR).toISOString());
    expect(o.deployments).toMatchObject({ total: 2, compliant: 1, nonCompliant: 1 });
    expect(o.deployments.items[0]).toMatchObject({ deploymentId: badDeployment.id, status: "non_compliant" });
    expect(o.exposure).toMatchObject({ deploymentsInExposedRegions: 1, requests: e.exposedRows.length, totalRequests: e.rows.length });
    expect(o.exposure.regions).toEqual([expect.objectContaining({ code: exposed.region.code, jurisdiction: "US", deployments: [{ id: badDeployment.id, name: badDeployment.name }], requests: e.exposedRows.length })]);
    expect(o.guardrails.totals).toMatchObject(e.verdicts);
    const checkpoint = await db.auditCheckpoint.findFirstOrThrow({ where: { chain: chainOf(a.org.id) }, orderBy: { treeSize: "desc" } });
    expect(o.audit.latestCheckpoint).toMatchObject({ treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash });
    expect(o.audit.events).toBe(await db.auditEvent.count({ where: { chain: chainOf(a.org.id) } }));
    expect(o.retention).toMatchObject({ traceDays: 180, meetsMinimum: true, keysCapturingContent: 0 });
  });

  it("shows the hourly job's last verification once stored, and a broken chain as broken", async () => {
    const chain = chainOf(b.org.id);
    const before = await complianceOverview(b.org.id, "24h");
    expect(before.audit.verification).toMatchObject({ ok: true, source: "on_demand" });
    expect(await db.auditChainVerification.count({ where: { chain } })).toBe(0);
    await recordChainVerification({ ok: false, chain, events: 4, brokenAtSeq: 2, reason: "event #2 was altered after it was written" }, new Date(now - HOUR));
    const after = await complianceOverview(b.org.id, "24h");
    expect(after.audit.verification).toEqual({ ok: false, events: 4, brokenAtSeq: 2, reason: "event #2 was altered after it was written", checkedAt: new Date(now - HOUR), source: "stored" });
    await recordChainVerification(await verifyAuditChain(db, chain));
    expect((await complianceOverview(b.org.id, "24h")).audit.verification).toMatchObject({ ok: true, source: "stored" });
  });

  it("over REST for members, and across organisations for platform admins only", async () => {
    const asViewer = await call(rest, "GET", `/orgs/${a.org.id}/compliance/overview?period=30d`, { auth: { session: a.viewer.user.id } });
    expect(asViewer.status).toBe(200);
    expect(asViewer.body.deployments.nonCompliant).toBe(1);
    const badPeriod = await call(rest, "GET", `/orgs/${a.org.id}/compliance/overview?period=1y`, { auth: { session: a.ownerId } });
    expect(badPeriod.status).toBe(400);
    expect(badPeriod.body.error.message).toMatch(/period must be one of 24h, 7d, 30d, 90d/);
    expect(await outcome(() => callerFor(a.ownerId).compliance.adminOverview({ period: "7d" }))).toBe("FORBIDDEN");
    const admin = await createUser("compliance-admin", { platformAdmin: true });
    const all = await callerFor(admin.id).compliance.adminOverview({ period: "7d" });
    const rowA = all.organizations.find((r) => r.organization.id === a.org.id)!;
    expect(rowA).toMatchObject({ deployments: { total: 2, compliant: 1, nonCompliant: 1 }, nonCompliantDeployments: [expect.objectContaining({ id: badDeployment.id })] });
    expect(all.totals.organizations).toBe(await db.organization.count());
    expect(all.totals.nonCompliant).toBe(all.organizations.reduce((n, r) => n + r.deployments.nonCompliant, 0));
    expect(all.totals.exposedRequests).toBe(all.organizations.reduce((n, r) => n + r.exposure.requests, 0));
  });
});
