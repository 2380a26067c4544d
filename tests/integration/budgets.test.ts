/**
 * Budgets and prices as the console and REST set them (docs/budgets.md): who may set an
 * organisation's budget, the precise refusals of bad input, the audit trail of each change, the
 * spend the budget is compared with (token cost + GPU time this UTC month, nothing of last month
 * or of other organisations), and per-token prices on catalog models (validated, audit-logged, kept
 * when an update leaves them out).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { evaluateBudgets } from "@/server/services/budgets";
import { budgetMonth } from "@/server/services/pricing";
import { modelForm } from "../audit-cases";
import { callerFor, createTenant, createUser, refusal, type Tenant } from "../helpers";
import { call, issueKey, startRestServer, type RestServer } from "../rest-fixtures";

let t: Tenant;
let other: Tenant;
let server: RestServer;

beforeAll(async () => {
  [t, other] = await Promise.all([createTenant("budgets"), createTenant("budgets-other")]);
  server = await startRestServer();
});
afterAll(() => server?.close());

const usage = (orgId: string, costMicroEur: number, createdAt = new Date()) => ({ orgId, endpoint: "/v1/chat/completions", tokensIn: 1, tokensOut: 1, latencyMs: 1, status: 200, costMicroEur, createdAt });

describe("an organisation's budget", () => {
  it("is set by owners and admins, read by every member, and refused to members and viewers", async () => {
    const input = { orgId: t.org.id, monthlyBudgetEur: 250.5, mode: "HARD" as const, alertThresholds: [100, 50, 90] };
    for (const who of [t.member.user.id, t.viewer.user.id]) {
      expect(await refusal(() => callerFor(who).budgets.set(input))).toMatchObject({ code: "FORBIDDEN", message: expect.stringContaining("needs the Admin role") });
    }
    expect(await callerFor(t.admin.user.id).budgets.set(input)).toEqual({ monthlyBudgetEur: 250.5, mode: "HARD", alertThresholds: [50, 90, 100] });
    expect((await db.organization.findUniqueOrThrow({ where: { id: t.org.id } })).monthlyBudgetCents).toBe(25_050);
    const read = await callerFor(t.viewer.user.id).budgets.get({ orgId: t.org.id });
    expect(read).toMatchObject({ budget: { monthlyBudgetEur: 250.5, mode: "HARD", alertThresholds: [50, 90, 100] }, month: budgetMonth().label, resetsAt: budgetMonth().end, hardLimitReached: false, alerts: [] });
  });

  it("is audit-logged with what it was and what it became; saving it unchanged writes nothing", async () => {
    const admin = callerFor(t.admin.user.id);
    await admin.budgets.set({ orgId: t.org.id, monthlyBudgetEur: 300, mode: "SOFT", alertThresholds: [80] });
    const last = await db.auditEvent.findFirstOrThrow({ where: { chain: t.org.id }, orderBy: { seq: "desc" } });
    expect(last).toMatchObject({ action: "budget.set", actorType: "USER", actorId: t.admin.user.id, targetType: "Organization", targetId: t.org.id });
    expect(last.before).toEqual({ monthlyBudgetEur: 250.5, mode: "HARD", alertThresholds: [50, 90, 100] });
    expect(last.after).toEqual({ monthlyBudgetEur: 300, mode: "SOFT", alertThresholds: [80] });
    const count = await db.auditEvent.count({ where: { chain: t.org.id } });
    await admin.budgets.set({ orgId: t.org.id, monthlyBudgetEur: 300, mode: "SOFT", alertThresholds: [80] });
    expect(await db.auditEvent.count({ where: { chain: t.org.id } })).toBe(count);
  });

  it.each([
    [{ monthlyBudgetEur: 0 }, "monthlyBudgetEur", "The monthly budget must be more than €0"],
    [{ monthlyBudgetEur: -5 }, "monthlyBudgetEur", "The monthly budget must be more than €0"],
    [{ monthlyBudgetEur: 12.345 }, "monthlyBudgetEur", "Use whole cents (at most two decimals)"],
    [{ monthlyBudgetEur: 20_000_000 }, "monthlyBudgetEur", "At most €10,000,000 per month"],
    [{ mode: "STRICT" }, "mode", "Mode is SOFT (alerts only) or HARD (every gateway refuses calls at 100 %)"],
    [{ alertThresholds: [] }, "alertThresholds", "Give at least one alert threshold, e.g. 100"],
    [{ alertThresholds: [50, 50] }, "alertThresholds", "Each alert threshold once"],
    [{ alertThresholds: [0] }, "alertThresholds.0", "A threshold is at least 1 %"],
    [{ alertThresholds: [80.5] }, "alertThresholds.0", "A threshold is a whole percentage of the budget, e.g. 80"],
    [{ alertThresholds: [50, 900] }, "alertThresholds.1", "A threshold is at most 500 %"],
  ])("refuses %j with a precise message", async (bad, field, message) => {
    const r = await refusal(() => callerFor(t.ownerId).budgets.set({ orgId: t.org.id, monthlyBudgetEur: 10, mode: "SOFT", alertThresholds: [100], ...(bad as object) } as never));
    expect(r.code).toBe("BAD_REQUEST");
    expect(r.fieldErrors[field]).toEqual([message]);
  });

  it("compares this UTC month's token cost and GPU time with the budget: not last month's, not another organisation's", async () => {
    const o = await createTenant("budget-spend");
    const { start } = budgetMonth();
    // The fixture's own record (42 µ€) is this month's.
    await db.usageRecord.createMany({ data: [usage(o.org.id, 1_000_000), usage(o.org.id, 9_000_000, new Date(start.getTime() - 60_000)), usage(other.org.id, 7_000_000)] });
    await db.gpuUsage.create({
      data: { orgId: o.org.id, deploymentId: o.deployment.id, regionId: o.region.id, gpuTypeId: o.gpuType.id, gpuCount: 1, periodStart: new Date(Math.max(start.getTime(), Date.now() - 3_600_000)), periodEnd: new Date(), gpuSeconds: 3600, costMicroEur: 2_950_000n },
    });
    await callerFor(o.ownerId).budgets.set({ orgId: o.org.id, monthlyBudgetEur: 5, mode: "SOFT", alertThresholds: [50, 80, 100] });
    const read = await callerFor(o.ownerId).budgets.get({ orgId: o.org.id });
    expect(read.spend).toEqual({ requestsEur: 1.000042, gpuTimeEur: 2.95, totalEur: 3.950042 });
    expect(read.percentUsed).toBe(79);

    // The evaluation raises 50 % only (79 % < 80 %), once.
    await evaluateBudgets();
    const alerts = await db.budgetAlert.findMany({ where: { orgId: o.org.id } });
    expect(alerts.map((a) => [a.threshold, a.budgetCents, a.mode, a.spentMicroEur])).toEqual([[50, 500, "SOFT", 3_950_042n]]);
    await evaluateBudgets();
    expect(await db.budgetAlert.count({ where: { orgId: o.org.id } })).toBe(1);
    expect((await callerFor(o.viewer.user.id).budgets.get({ orgId: o.org.id })).alerts).toEqual([
      { id: alerts[0].id, month: budgetMonth().label, threshold: 50, budgetEur: 5, mode: "SOFT", spentEur: 3.950042, createdAt: alerts[0].createdAt },
    ]);
    // Nothing for an organisation without a budget, whatever it spent.
    expect(await db.budgetAlert.count({ where: { orgId: other.org.id } })).toBe(0);
  });

  it("is removed by an admin (audited); removing none is a 404", async () => {
    const admin = callerFor(t.admin.user.id);
    expect(await admin.budgets.remove({ orgId: t.org.id })).toEqual({ removed: true });
    expect((await admin.budgets.get({ orgId: t.org.id })).budget).toBeNull();
    expect(await db.auditEvent.findFirstOrThrow({ where: { chain: t.org.id }, orderBy: { seq: "desc" } })).toMatchObject({ action: "budget.removed", before: { monthlyBudgetEur: 300, mode: "SOFT" } });
    expect(await refusal(() => admin.budgets.remove({ orgId: t.org.id }))).toMatchObject({ code: "NOT_FOUND", message: "This organisation's budget was not found" });
  });

  it("is set over REST with a manage key, audited as that key; a read key may only read it", async () => {
    const manage = await issueKey(t.org.id, t.ownerId, ["manage"], "finops program");
    const read = await issueKey(t.org.id, t.ownerId, ["read"], "dashboard");
    const put = await call(server, "PUT", `/orgs/${t.org.slug}/budget`, { auth: manage.key, body: { monthlyBudgetEur: 1200, mode: "HARD" } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toEqual({ monthlyBudgetEur: 1200, mode: "HARD", alertThresholds: [50, 80, 100] });
    expect(await db.auditEvent.findFirstOrThrow({ where: { chain: t.org.id }, orderBy: { seq: "desc" } })).toMatchObject({ action: "budget.set", actorType: "API_KEY", actorId: manage.id });

    const got = await call(server, "GET", `/orgs/${t.org.id}/budget`, { auth: read.key });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ budget: { monthlyBudgetEur: 1200, mode: "HARD" }, month: budgetMonth().label, spend: { totalEur: expect.any(Number) }, alerts: [] });
    expect((await call(server, "PUT", `/orgs/${t.org.id}/budget`, { auth: read.key, body: { monthlyBudgetEur: 1, mode: "SOFT" } })).status).toBe(403);

    const bad = await call(server, "PUT", `/orgs/${t.org.id}/budget`, { auth: manage.key, body: { monthlyBudgetEur: 10, mode: "HARD", alertThresholds: [50, 50] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ param: "alertThresholds", message: expect.stringContaining("Each alert threshold once") });
  });
});

describe("per-token prices on catalog models", () => {
  let adminId: string;
  beforeAll(async () => {
    adminId = (await createUser("catalog-admin", { platformAdmin: true })).id;
  });

  it("are set by platform admins, stored in micro-euros per million tokens, shown in € to tenants, and audit-logged", async () => {
    const admin = callerFor(adminId);
    const created = await admin.admin.createModel({ ...modelForm(t.gpuType.id), inputEurPerMillionTokens: 0.15, outputEurPerMillionTokens: 0.6 });
    expect(created).toMatchObject({ inputEurPerMillionTokens: 0.15, outputEurPerMillionTokens: 0.6 });
    expect(await db.catalogModel.findUniqueOrThrow({ where: { id: created.id } })).toMatchObject({ inputMicroEurPerMillionTokens: 150_000, outputMicroEurPerMillionTokens: 600_000 });
    const listed = (await callerFor(t.viewer.user.id).catalog.list()).find((m) => m.id === created.id);
    expect(listed).toMatchObject({ inputEurPerMillionTokens: 0.15, outputEurPerMillionTokens: 0.6 });

    // An update that leaves the prices out keeps them; one that gives them changes them, audited.
    const { id: _id, createdAt: _c, updatedAt: _u, fitsGpuTypes: _f, allowedRegions: _r, status: _s, inputEurPerMillionTokens: _ie, outputEurPerMillionTokens: _oe, ...fields } = created;
    const base = { ...fields, modelId: created.id, parameterCount: String(created.parameterCount), fitsGpuTypeIds: [t.gpuType.id] };
    expect(await admin.admin.updateModel({ ...base, contextLength: 16_384 })).toMatchObject({ inputEurPerMillionTokens: 0.15, outputEurPerMillionTokens: 0.6 });
    await admin.admin.updateModel({ ...base, contextLength: 16_384, inputEurPerMillionTokens: 0.2 });
    const event = await db.auditEvent.findFirstOrThrow({ where: { chain: "platform", action: "catalog.model_updated", targetId: created.id }, orderBy: { seq: "desc" } });
    expect(event.before).toMatchObject({ inputMicroEurPerMillionTokens: 150_000, outputMicroEurPerMillionTokens: 600_000 });
    expect(event.after).toMatchObject({ inputMicroEurPerMillionTokens: 200_000, outputMicroEurPerMillionTokens: 600_000 });
    // Without prices, a new model is not charged per token.
    expect(await admin.admin.createModel(modelForm(t.gpuType.id))).toMatchObject({ inputEurPerMillionTokens: 0, outputEurPerMillionTokens: 0 });
  });

  it.each([
    [{ inputEurPerMillionTokens: -0.01 }, "inputEurPerMillionTokens", "The input price cannot be negative (0: input tokens are not charged)"],
    [{ outputEurPerMillionTokens: 1000.01 }, "outputEurPerMillionTokens", "At most €1,000 per million output tokens"],
    [{ inputEurPerMillionTokens: 0.1234567 }, "inputEurPerMillionTokens", "Use at most 6 decimals (a micro-euro per million tokens)"],
    [{ outputEurPerMillionTokens: "0.5" }, "outputEurPerMillionTokens", "Enter the output price in euros per million tokens, e.g. 0.15"],
  ])("refuses %j with a precise message", async (bad, field, message) => {
    const r = await refusal(() => callerFor(adminId).admin.createModel({ ...modelForm(t.gpuType.id), ...(bad as object) } as never));
    expect(r.code).toBe("BAD_REQUEST");
    expect(r.fieldErrors[field]).toEqual([message]);
  });

  it("are not for tenants to set", async () => {
    expect(await refusal(() => callerFor(t.ownerId).admin.updateModel({ ...modelForm(t.gpuType.id), modelId: t.model.id, inputEurPerMillionTokens: 0 } as never))).toMatchObject({ code: "FORBIDDEN" });
  });
});
