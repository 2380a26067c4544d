/**
 * Guardrail policies as the console and REST set them and the gateways apply them
 * (docs/guardrails.md, "Policies"): the built-in defaults of a new organisation (verdicts in its
 * traces before anyone configures anything), who may change them, the precise refusals of bad
 * input, the audit trail of each change, the precedence organisation < deployment < key, and the
 * delivery of every change to running gateway processes — GatewayState instances against the real
 * database (as two processes hold them) and a spawned gateway process answering real requests.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { GatewayState } from "@/server/gateway/state";
import { DEFAULT_GUARDRAIL_RULES, type EffectiveGuardrails } from "@/server/guardrails/types";
import { createApiKey } from "../deployment-fixtures";
import { registerDeployment, spawnGateway, startFastUpstream, waitFor, waitForModel, type FakeUpstream, type GatewayProcess } from "../gateway-fixtures";
import { callerFor, createTenant, refusal, type Tenant } from "../helpers";
import { call, issueKey, startRestServer, type RestServer } from "../rest-fixtures";

let t: Tenant;
let other: Tenant;
let server: RestServer;
const pools: pg.Pool[] = [];
const states: GatewayState[] = [];

/** A gateway process's in-memory state, against the test database. Poll and full refresh every hour unless given: NOTIFY alone must deliver. */
async function gatewayState(options: { pollMs?: number } = {}) {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
  pools.push(pool);
  const state = new GatewayState(pool, { databaseUrl: process.env.DATABASE_URL!, pollMs: options.pollMs ?? 3_600_000, fullRefreshMs: 3_600_000, log: () => {} });
  await state.start();
  states.push(state);
  return state;
}

beforeAll(async () => {
  [t, other] = await Promise.all([createTenant("guardrail-policies"), createTenant("guardrail-policies-other")]);
  server = await startRestServer();
});
afterAll(async () => {
  await Promise.all(states.map((s) => s.close()));
  await Promise.all(pools.map((p) => p.end()));
  await server?.close();
});

const lastEvent = (orgId: string) => db.auditEvent.findFirstOrThrow({ where: { chain: orgId }, orderBy: { seq: "desc" } });
const OBSERVED = { ...DEFAULT_GUARDRAIL_RULES };

describe("a new organisation", () => {
  it("starts with the schema and personal-data checks on input and output in observe mode", async () => {
    const fresh = await createTenant("guardrails-new");
    const defaults = await callerFor(fresh.viewer.user.id).guardrails.get({ orgId: fresh.org.id });
    expect(defaults).toMatchObject({
      configured: false,
      rules: { "schema.output": "observe", "pii.input": "observe", "pii.output": "observe", "grounded.output": "off" },
      piiTypes: null,
      judge: null,
      groundedThreshold: 0.7,
      updatedAt: null,
    });
    expect(defaults.catalogue.map((r) => [r.rule, r.actions])).toEqual([
      ["schema.output", ["off", "observe", "block"]],
      ["pii.input", ["off", "observe", "redact", "block"]],
      ["pii.output", ["off", "observe", "redact", "block"]],
      ["grounded.output", ["off", "observe", "block"]],
    ]);
    const effective = await callerFor(fresh.member.user.id).guardrails.effective({ orgId: fresh.org.id, deploymentId: fresh.deployment.id, apiKeyId: fresh.apiKey.id });
    expect(effective.rules).toEqual(DEFAULT_GUARDRAIL_RULES);
    expect(Object.values(effective.sources)).toEqual(["default", "default", "default", "default"]);
    // Nothing stored: the gateway applies the same defaults from no row at all.
    expect(await db.guardrailPolicy.count({ where: { orgId: fresh.org.id } })).toBe(0);
    const state = await gatewayState();
    expect(state.guardrailsFor(fresh.org.id, fresh.deployment.id, fresh.apiKey.id).rules).toEqual(DEFAULT_GUARDRAIL_RULES);
    expect(state.guardrailsFor("an-organisation-no-gateway-knows", null, null).rules).toEqual(DEFAULT_GUARDRAIL_RULES);
  });
});

describe("the organisation's defaults", () => {
  it("are set by owners and admins, read by every member, and refused to members and viewers", async () => {
    const input = { orgId: t.org.id, rules: { "pii.input": "redact" as const, "schema.output": "block" as const }, piiTypes: ["EMAIL" as const, "IBAN" as const], groundedThreshold: 0.8 };
    for (const who of [t.member.user.id, t.viewer.user.id]) {
      expect(await refusal(() => callerFor(who).guardrails.set(input))).toMatchObject({ code: "FORBIDDEN", message: expect.stringContaining("needs the Admin role") });
      expect(await refusal(() => callerFor(who).guardrails.setApiKeyOverride({ orgId: t.org.id, apiKeyId: t.apiKey.id, rules: { "pii.input": "off" } }))).toMatchObject({ code: "FORBIDDEN" });
    }
    expect(await db.guardrailPolicy.count({ where: { orgId: t.org.id } })).toBe(0);
    const saved = await callerFor(t.admin.user.id).guardrails.set(input);
    // A rule left out gets its built-in default.
    expect(saved).toMatchObject({ configured: true, rules: { "schema.output": "block", "pii.input": "redact", "pii.output": "observe", "grounded.output": "off" }, piiTypes: ["EMAIL", "IBAN"], judge: null, groundedThreshold: 0.8 });
    expect(await callerFor(t.viewer.user.id).guardrails.get({ orgId: t.org.id })).toEqual(saved);
    expect(await callerFor(t.ownerId).guardrails.set({ ...input, rules: { ...input.rules, "pii.output": "block" } })).toMatchObject({ rules: { "pii.output": "block" } });
  });

  it("are audit-logged with what they were and what they became; saving them unchanged writes nothing", async () => {
    const admin = callerFor(t.admin.user.id);
    const before = (await admin.guardrails.get({ orgId: t.org.id })).rules;
    const judge = { kind: "deployment" as const, deploymentId: t.deployment.id };
    await admin.guardrails.set({ orgId: t.org.id, rules: { "pii.input": "block", "grounded.output": "observe" }, judge, groundedThreshold: 0.65 });
    const event = await lastEvent(t.org.id);
    expect(event).toMatchObject({ action: "guardrails.set", actorType: "USER", actorId: t.admin.user.id, targetType: "Organization", targetId: t.org.id });
    expect((event.before as { rules: unknown }).rules).toEqual(before);
    expect(event.after).toEqual({ rules: { "schema.output": "observe", "pii.input": "block", "pii.output": "observe", "grounded.output": "observe" }, piiTypes: null, judge, groundedThreshold: 0.65 });
    const count = await db.auditEvent.count({ where: { chain: t.org.id } });
    await admin.guardrails.set({ orgId: t.org.id, rules: { "pii.input": "block", "grounded.output": "observe" }, judge, groundedThreshold: 0.65 });
    expect(await db.auditEvent.count({ where: { chain: t.org.id } })).toBe(count);
    expect((await admin.guardrails.get({ orgId: t.org.id })).judge).toEqual({ kind: "deployment", deploymentId: t.deployment.id, deploymentName: t.deployment.name, url: null });
  });

  it("return to the built-in ones on reset, audit-logged; a second reset is a 404", async () => {
    const admin = callerFor(t.admin.user.id);
    const reset = await admin.guardrails.reset({ orgId: t.org.id });
    expect(reset).toMatchObject({ configured: false, rules: DEFAULT_GUARDRAIL_RULES, judge: null });
    expect(await lastEvent(t.org.id)).toMatchObject({ action: "guardrails.reset", targetId: t.org.id, after: null });
    expect(await refusal(() => admin.guardrails.reset({ orgId: t.org.id }))).toMatchObject({ code: "NOT_FOUND" });
  });

  it.each([
    [{ rules: { "pii.inptu": "block" } }, "rules", 'Unknown rule "pii.inptu": the rules are schema.output, pii.input, pii.output, grounded.output'],
    [{ rules: { "schema.output": "redact" } }, "rules.schema.output", '"redact" is not an action of schema.output: use off, observe or block'],
    [{ rules: { "grounded.output": "redact" } }, "rules.grounded.output", '"redact" is not an action of grounded.output: use off, observe or block'],
    [{ rules: { "pii.input": "warn" } }, "rules.pii.input", '"warn" is not an action of pii.input: use off, observe, redact or block'],
    [{ rules: {}, piiTypes: ["EMAIL", "SSN"] }, "piiTypes.1", "A personal-data type is one of EMAIL"],
    [{ rules: {}, piiTypes: [] }, "piiTypes", "Give at least one personal-data type, or null to check all of them"],
    [{ rules: {}, groundedThreshold: 1.5 }, "groundedThreshold", "The groundedness threshold is at most 1"],
    [{ rules: {}, judge: { kind: "http", url: "ftp://verifier.internal/check" } }, "judge.url", "The verifier's URL must be http:// or https://, not ftp://"],
    [{ rules: {}, judge: { kind: "http", url: "file:///etc/passwd" } }, "judge.url", "must be http:// or https://, not file://"],
    [{ rules: {}, judge: { kind: "http", url: "https://user:secret@verifier.internal/check" } }, "judge.url", "Put no user name or password in the verifier's URL"],
    [{ rules: {}, judge: { kind: "http", url: "https://verifier.internal/check?token=abc" } }, "judge.url", "Put no query string or fragment in the verifier's URL"],
    [{ rules: {}, judge: { kind: "http", url: "not a url" } }, "judge.url", "Write the URL in plain ASCII"],
    [{ rules: {}, judge: { kind: "oracle" } }, "judge.kind", 'A judge is {"kind": "deployment", "deploymentId": …} or {"kind": "http", "url": …}'],
  ])("refuse %j over REST with a 400 naming %s", async (body, param, message) => {
    const { key } = await issueKey(t.org.id, t.ownerId, ["manage"], "guardrails bad input");
    const answer = await call(server, "PUT", `/orgs/${t.org.id}/guardrails`, { auth: key, body });
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    expect(answer.body.error.param).toBe(param);
    expect(answer.body.error.message).toContain(message);
  });

  it("refuse a judge deployment of another organisation with a 400, and accept the organisation's own and an http verifier", async () => {
    const admin = callerFor(t.admin.user.id);
    expect(await refusal(() => admin.guardrails.set({ orgId: t.org.id, rules: {}, judge: { kind: "deployment", deploymentId: other.deployment.id } }))).toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringContaining("The judge deployment is not one of this organisation's deployments"),
    });
    const { key } = await issueKey(t.org.id, t.ownerId, ["manage"], "guardrails judge");
    const refused = await call(server, "PUT", `/orgs/${t.org.id}/guardrails`, { auth: key, body: { rules: {}, judge: { kind: "deployment", deploymentId: other.deployment.id } } });
    expect(refused.status).toBe(400);
    expect(refused.body.error.param).toBe("judge.deploymentId");
    const http = await call(server, "PUT", `/orgs/${t.org.id}/guardrails`, { auth: key, body: { rules: { "grounded.output": "block" }, judge: { kind: "http", url: "http://verifier.internal:8000/v1/groundedness" }, groundedThreshold: 0.5 } });
    expect(http.status, JSON.stringify(http.body)).toBe(200);
    expect(http.body).toMatchObject({ rules: { "grounded.output": "block" }, judge: { kind: "http", url: "http://verifier.internal:8000/v1/groundedness" }, groundedThreshold: 0.5 });
    expect(await lastEvent(t.org.id)).toMatchObject({ action: "guardrails.set", actorType: "API_KEY" });
  });

  it("are changed over REST by a manage key only; a read key reads them", async () => {
    const read = await issueKey(t.org.id, t.ownerId, ["read"], "guardrails reader");
    const got = await call(server, "GET", `/orgs/${t.org.id}/guardrails`, { auth: read.key });
    expect(got.status).toBe(200);
    expect(got.body.rules).toBeDefined();
    const refused = await call(server, "PUT", `/orgs/${t.org.id}/guardrails`, { auth: read.key, body: { rules: { "pii.input": "off" } } });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("insufficient_scope");
  });
});

describe("overrides", () => {
  it("apply organisation < deployment < key, rule by rule, the same in the service and in the gateway", async () => {
    const admin = callerFor(t.admin.user.id);
    const state = await gatewayState();
    await admin.guardrails.set({ orgId: t.org.id, rules: { "pii.input": "block", "pii.output": "redact", "schema.output": "observe" } });
    const dep = await admin.guardrails.setDeploymentOverride({ orgId: t.org.id, deploymentId: t.deployment.id, rules: { "pii.input": "redact", "schema.output": "off" } });
    expect(dep).toMatchObject({ kind: "deployment", id: t.deployment.id, name: t.deployment.name, rules: { "pii.input": "redact", "schema.output": "off" } });
    expect(dep.effective).toEqual({ "schema.output": "off", "pii.input": "redact", "pii.output": "redact", "grounded.output": "off" });
    const key = await admin.guardrails.setApiKeyOverride({ orgId: t.org.id, apiKeyId: t.apiKey.id, rules: { "pii.input": "observe" } });
    expect(key.effective).toEqual({ "schema.output": "observe", "pii.input": "observe", "pii.output": "redact", "grounded.output": "off" });

    // The organisation's defaults hold every rule (one left out of a PUT is stored with its built-in action).
    const combos: [string | null, string | null, Record<string, string>, Record<string, string>][] = [
      [null, null, { "schema.output": "observe", "pii.input": "block", "pii.output": "redact", "grounded.output": "off" }, { "schema.output": "organization", "pii.input": "organization", "pii.output": "organization", "grounded.output": "organization" }],
      [t.deployment.id, null, { "schema.output": "off", "pii.input": "redact", "pii.output": "redact", "grounded.output": "off" }, { "schema.output": "deployment", "pii.input": "deployment", "pii.output": "organization", "grounded.output": "organization" }],
      [null, t.apiKey.id, { "schema.output": "observe", "pii.input": "observe", "pii.output": "redact", "grounded.output": "off" }, { "schema.output": "organization", "pii.input": "apiKey", "pii.output": "organization", "grounded.output": "organization" }],
      [t.deployment.id, t.apiKey.id, { "schema.output": "off", "pii.input": "observe", "pii.output": "redact", "grounded.output": "off" }, { "schema.output": "deployment", "pii.input": "apiKey", "pii.output": "organization", "grounded.output": "organization" }],
    ];
    for (const [deploymentId, apiKeyId, rules, sources] of combos) {
      const effective = await admin.guardrails.effective({ orgId: t.org.id, deploymentId: deploymentId ?? undefined, apiKeyId: apiKeyId ?? undefined });
      expect(effective.rules, `${deploymentId} ${apiKeyId}`).toEqual(rules);
      expect(effective.sources, `${deploymentId} ${apiKeyId}`).toEqual(sources);
      await waitFor(() => JSON.stringify(state.guardrailsFor(t.org.id, deploymentId, apiKeyId).rules) === JSON.stringify(rules), 10_000);
    }
    // Cached per (deployment, key) and frozen: the hot path allocates nothing on the next request.
    const first = state.guardrailsFor(t.org.id, t.deployment.id, t.apiKey.id);
    expect(state.guardrailsFor(t.org.id, t.deployment.id, t.apiKey.id)).toBe(first);
    expect(Object.isFrozen(first) && Object.isFrozen(first.rules)).toBe(true);
    // A deployment and a key without an override of their own get the organisation's object itself.
    expect(state.guardrailsFor(t.org.id, other.deployment.id, "unknown-key")).toBe(state.guardrailsFor(t.org.id, null, null));

    const listed = await callerFor(t.viewer.user.id).guardrails.overrides({ orgId: t.org.id });
    expect(listed.deployments).toEqual([expect.objectContaining({ deploymentId: t.deployment.id, deploymentName: t.deployment.name, rules: { "schema.output": "off", "pii.input": "redact" }, effective: dep.effective })]);
    expect(listed.apiKeys).toEqual([expect.objectContaining({ apiKeyId: t.apiKey.id, apiKeyName: t.apiKey.name, prefix: t.apiKey.prefix, rules: { "pii.input": "observe" }, effective: key.effective })]);
  });

  it("are audit-logged, set over REST, removed (a second removal is a 404), and refused for another organisation's objects", async () => {
    const { key } = await issueKey(t.org.id, t.ownerId, ["manage"], "guardrails overrides");
    const put = await call(server, "PUT", `/orgs/${t.org.id}/api-keys/${t.apiKey.id}/guardrails`, { auth: key, body: { rules: { "pii.output": "block" } } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body.rules).toEqual({ "pii.output": "block" });
    const set = await lastEvent(t.org.id);
    expect(set).toMatchObject({ action: "guardrails.override_set", targetType: "ApiKey", targetId: t.apiKey.id, actorType: "API_KEY", before: { rules: { "pii.input": "observe" } } });
    expect((set.after as { rules: unknown }).rules).toEqual({ "pii.output": "block" });

    const empty = await call(server, "PUT", `/orgs/${t.org.id}/deployments/${t.deployment.id}/guardrails`, { auth: key, body: { rules: {} } });
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toContain("Override at least one rule");
    const foreign = await call(server, "PUT", `/orgs/${t.org.id}/deployments/${other.deployment.id}/guardrails`, { auth: key, body: { rules: { "pii.input": "off" } } });
    expect(foreign.status).toBe(404);

    const del = await call(server, "DELETE", `/orgs/${t.org.id}/deployments/${t.deployment.id}/guardrails`, { auth: key });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    expect(del.body).toEqual({ kind: "deployment", id: t.deployment.id, removed: true });
    expect(await lastEvent(t.org.id)).toMatchObject({ action: "guardrails.override_removed", targetType: "Deployment", targetId: t.deployment.id, before: { rules: { "schema.output": "off", "pii.input": "redact" } } });
    expect((await call(server, "DELETE", `/orgs/${t.org.id}/deployments/${t.deployment.id}/guardrails`, { auth: key })).status).toBe(404);
    const listed = await call(server, "GET", `/orgs/${t.org.id}/guardrails/overrides`, { auth: key });
    expect(listed.body.deployments).toEqual([]);
    expect(listed.body.apiKeys.map((k: { apiKeyId: string }) => k.apiKeyId)).toEqual([t.apiKey.id]);
  });

  it("are refused for a revoked key", async () => {
    const { row } = await createApiKey(t.org.id, t.ownerId, { name: "revoked" });
    await db.apiKey.update({ where: { id: row.id }, data: { revokedAt: new Date() } });
    expect(await refusal(() => callerFor(t.admin.user.id).guardrails.setApiKeyOverride({ orgId: t.org.id, apiKeyId: row.id, rules: { "pii.input": "off" } }))).toMatchObject({
      code: "CONFLICT",
      message: expect.stringContaining("revoked"),
    });
  });
});

describe("delivery to the gateways", () => {
  it("reaches every gateway process within a second of the commit, by NOTIFY (no poll, no refresh)", async () => {
    const org = await createTenant("guardrails-delivery");
    const admin = callerFor(org.admin.user.id);
    const [one, two] = await Promise.all([gatewayState(), gatewayState()]);
    const rulesOf = (s: GatewayState) => s.guardrailsFor(org.org.id, org.deployment.id, org.apiKey.id).rules;
    expect(rulesOf(one)).toEqual(OBSERVED);

    const changes: [string, () => Promise<unknown>, Partial<EffectiveGuardrails["rules"]>][] = [
      ["defaults", () => admin.guardrails.set({ orgId: org.org.id, rules: { "pii.input": "block" } }), { "pii.input": "block" }],
      ["a deployment override", () => admin.guardrails.setDeploymentOverride({ orgId: org.org.id, deploymentId: org.deployment.id, rules: { "schema.output": "off" } }), { "pii.input": "block", "schema.output": "off" }],
      ["a key override", () => admin.guardrails.setApiKeyOverride({ orgId: org.org.id, apiKeyId: org.apiKey.id, rules: { "pii.input": "redact" } }), { "pii.input": "redact", "schema.output": "off" }],
      ["the key override removed", () => admin.guardrails.removeApiKeyOverride({ orgId: org.org.id, apiKeyId: org.apiKey.id }), { "pii.input": "block", "schema.output": "off" }],
      ["the defaults reset", () => admin.guardrails.reset({ orgId: org.org.id }), { "schema.output": "off" }],
      ["the deployment override removed", () => admin.guardrails.removeDeploymentOverride({ orgId: org.org.id, deploymentId: org.deployment.id }), {}],
    ];
    for (const [what, change, expected] of changes) {
      const want = JSON.stringify({ ...OBSERVED, ...expected });
      // Read once before, so the change must invalidate what the processes resolved.
      rulesOf(one);
      rulesOf(two);
      await change();
      const committed = Date.now();
      await waitFor(() => JSON.stringify(rulesOf(one)) === want && JSON.stringify(rulesOf(two)) === want, 10_000, 5);
      expect(Date.now() - committed, `${what}: seen by both processes`).toBeLessThan(1000);
    }
  });

  it("catches a change nobody notified with the one-second poll", async () => {
    const org = await createTenant("guardrails-poll");
    const state = await gatewayState({ pollMs: 200 });
    expect(state.guardrailsFor(org.org.id, null, null).rules).toEqual(OBSERVED);
    // Written by hand, without NOTIFY (a lost notification).
    await db.guardrailPolicy.create({ data: { orgId: org.org.id, rules: { ...OBSERVED, "pii.output": "block" }, piiTypes: ["EMAIL"], groundedThreshold: 0.9 } });
    await waitFor(() => state.guardrailsFor(org.org.id, null, null).rules["pii.output"] === "block", 10_000);
    expect(state.guardrailsFor(org.org.id, null, null)).toMatchObject({ piiTypes: ["EMAIL"], groundedThreshold: 0.9, judge: null });
    await db.guardrailPolicy.deleteMany({ where: { orgId: org.org.id } });
    await waitFor(() => state.guardrailsFor(org.org.id, null, null).rules["pii.output"] === "observe", 10_000);
  });

  it("ignores a stored rule or action the service would have refused", async () => {
    const org = await createTenant("guardrails-hand");
    const state = await gatewayState({ pollMs: 200 });
    await db.guardrailPolicy.create({ data: { orgId: org.org.id, rules: { "schema.output": "redact", "pii.input": "block", "made.up": "block" } } });
    await waitFor(() => state.guardrailsFor(org.org.id, null, null).rules["pii.input"] === "block", 10_000);
    expect(state.guardrailsFor(org.org.id, null, null).rules).toEqual({ ...OBSERVED, "pii.input": "block" });
  });
});

describe("a spawned gateway process", () => {
  let spoolRoot: string;
  let gw: GatewayProcess | undefined;
  let upstream: FakeUpstream;
  beforeAll(async () => {
    spoolRoot = mkdtempSync(path.join(os.tmpdir(), "enclave-guardrail-policies-"));
    upstream = await startFastUpstream();
    gw = await spawnGateway({ spoolDir: spoolRoot, env: { GATEWAY_SPOOL_BATCH_MS: "50" } });
  });
  afterAll(async () => {
    await gw?.stop();
    await upstream?.close();
    rmSync(spoolRoot, { recursive: true, force: true });
  });

  it("reports the personal data of a new organisation's prompt at once, and blocks it within a second of the policy's change", async () => {
    const fresh = await createTenant("guardrails-e2e");
    const deployment = await registerDeployment(fresh, [upstream.url]);
    const { key } = await createApiKey(fresh.org.id, fresh.ownerId, { name: "guardrails e2e" });
    await waitForModel(gw!.url, key, deployment.name);
    const ask = () =>
      fetch(`${gw!.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: deployment.name, messages: [{ role: "user", content: "Écrivez à claire.dupont@hopital-rive-gauche.fr demain." }], max_tokens: 4 }),
      });
    // Nobody configured anything: observed, answered, and reported.
    const observed = await ask();
    expect(observed.status).toBe(200);
    expect(observed.headers.get("x-enclave-guardrails")).toMatch(/pii\.input=flagged:1/);
    expect(observed.headers.get("x-enclave-guardrails")).not.toContain("claire");

    await callerFor(fresh.admin.user.id).guardrails.set({ orgId: fresh.org.id, rules: { "pii.input": "block" } });
    const committed = Date.now();
    await waitFor(async () => (await ask()).status === 400, 10_000, 20);
    expect(Date.now() - committed).toBeLessThan(1000);
    const refused = await (await ask()).json();
    expect(JSON.stringify(refused)).not.toContain("claire");
    expect(refused.error.message).toMatch(/EMAIL/);
  });
});
