/**
 * The organisation's webhook (docs/budgets.md, "Webhooks"), against a real receiver: a local HTTP
 * server that records what it gets, verifies the signature with its own HMAC code (not Enclave's),
 * and fails on demand. The workers' delivery loop runs for real (LISTEN/NOTIFY + poll, with short
 * retry delays): budget alerts and test events arrive signed, a failing receiver is retried with
 * the same event id until it answers 2xx, a receiver that never answers well is given up, and a
 * rotated secret replaces the old one. URLs that would make Enclave call private networks are
 * refused with a precise message, at save time and again at each delivery.
 */
import { createHmac } from "node:crypto";
import http, { type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { evaluateBudgets } from "@/server/services/budgets";
import { guardedLookup, postWebhook, retryDelayMs, verifySignature, webhookUrlProblem } from "@/server/services/webhooks";
import { startWebhookDelivery } from "@/workers/jobs/deliver-webhooks";
import { waitFor } from "../gateway-fixtures";
import { callerFor, createTenant, refusal, type Tenant } from "../helpers";

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  answered: number;
}

/** A webhook receiver on loopback: answers `answer(n)` to its n-th call (1-based), 200 by default. */
async function startReceiver(answer: (n: number) => number = () => 200) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const status = answer(received.length + 1);
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), answered: status });
      res.writeHead(status, status === 302 ? { location: "http://127.0.0.1:9/elsewhere" } : {}).end(status < 300 ? "ok" : "not now");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hooks/enclave`,
    received,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

/** The receiver's own check, as docs/budgets.md shows it: HMAC-SHA256 over "<t>.<raw body>", recent t. */
function receiverVerifies(secret: string, r: Received): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(r.headers["enclave-signature"]));
  if (!match) return false;
  const expected = createHmac("sha256", secret).update(`${match[1]}.${r.body}`).digest("hex");
  return expected === match[2] && Math.abs(Date.now() / 1000 - Number(match[1])) < 300;
}

const usage = (orgId: string, costMicroEur: number) => ({ orgId, endpoint: "/v1/chat/completions", tokensIn: 10, tokensOut: 10, latencyMs: 5, status: 200, costMicroEur, createdAt: new Date() });

/** Runs the workers' evaluation (of every organisation) and answers how many alerts it raised for `orgId`. */
async function alertsRaisedFor(orgId: string) {
  const before = await db.budgetAlert.count({ where: { orgId } });
  await evaluateBudgets();
  return (await db.budgetAlert.count({ where: { orgId } })) - before;
}

let stopDelivery: () => Promise<void>;

beforeAll(async () => {
  stopDelivery = await startWebhookDelivery({ connectionString: process.env.DATABASE_URL!, pollMs: 50, retryBaseMs: 100, maxAttempts: 4, timeoutMs: 2000 });
});
afterAll(async () => {
  await stopDelivery?.();
});

describe("budget alerts, delivered to the organisation's webhook", () => {
  let t: Tenant;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let secret: string;

  beforeAll(async () => {
    t = await createTenant("webhooks");
    // The first two calls fail: the delivery must be retried, not lost.
    receiver = await startReceiver((n) => (n <= 2 ? 500 : 200));
    const saved = await callerFor(t.admin.user.id).webhooks.set({ orgId: t.org.id, url: receiver.url, enabled: true });
    expect(saved.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    secret = saved.secret!;
    expect(saved.secretHint).toBe(`${secret.slice(0, 10)}…`);
  });
  afterAll(() => receiver?.close());

  it("shows the signing secret once: reading the webhook never gives it", async () => {
    const read = await callerFor(t.ownerId).webhooks.get({ orgId: t.org.id });
    expect(read).toMatchObject({ url: receiver.url, enabled: true, secretHint: `${secret.slice(0, 10)}…` });
    expect(JSON.stringify(read)).not.toContain(secret);
    const again = await callerFor(t.admin.user.id).webhooks.set({ orgId: t.org.id, url: receiver.url, enabled: true });
    expect(again.secret).toBeNull();
    // Nothing in the audit trail holds it either.
    const events = await db.auditEvent.findMany({ where: { orgId: t.org.id, action: { startsWith: "webhook." } } });
    expect(events.map((e) => e.action)).toContain("webhook.created");
    expect(JSON.stringify(events)).not.toContain(secret);
  });

  it("POSTs each threshold crossed once a month, signed, retried with the same event id until the receiver answers 2xx", async () => {
    await callerFor(t.admin.user.id).budgets.set({ orgId: t.org.id, monthlyBudgetEur: 1, mode: "SOFT", alertThresholds: [50, 80, 100] });
    // €0.85 this month: 50 % and 80 % are crossed, 100 % is not. (The fixture's own record costs 42 µ€.)
    await db.usageRecord.createMany({ data: [usage(t.org.id, 500_000), usage(t.org.id, 350_000)] });
    expect(await alertsRaisedFor(t.org.id)).toBe(2);

    await waitFor(() => receiver.received.filter((r) => r.answered === 200).length === 2, 15_000);
    const events = receiver.received.map((r) => ({ ...r, json: JSON.parse(r.body) }));
    for (const r of events) {
      expect(receiverVerifies(secret, r), "the receiver's own HMAC check").toBe(true);
      expect(verifySignature(secret, r.body, String(r.headers["enclave-signature"]))).toBe(true);
      expect(r.headers["content-type"]).toBe("application/json");
      expect(r.headers["enclave-event-id"]).toBe(r.json.id);
      expect(r.json).toMatchObject({ id: expect.stringMatching(/^evt_/), type: "budget.threshold_crossed", organization: { id: t.org.id, slug: t.org.slug } });
      expect(r.headers["enclave-event-type"]).toBe("budget.threshold_crossed");
    }
    const delivered = events.filter((r) => r.answered === 200);
    expect(delivered.map((r) => r.json.data.threshold).sort()).toEqual([50, 80]);
    expect(delivered[0].json.data).toMatchObject({ budget: { amountEur: 1, mode: "soft" }, spentEur: 0.850042, refusing: false, month: new Date().toISOString().slice(0, 7) });
    // The two failed attempts were retried: every event id that failed arrived again, and two distinct ids in all.
    const failed = events.filter((r) => r.answered === 500);
    expect(failed).toHaveLength(2);
    for (const f of failed) expect(delivered.map((d) => d.json.id)).toContain(f.json.id);
    expect(new Set(events.map((r) => r.json.id)).size).toBe(2);
    const retried = delivered.find((d) => failed.some((f) => f.json.id === d.json.id))!;
    expect(Number(retried.headers["enclave-delivery-attempt"])).toBeGreaterThan(1);

    // What the console shows: each delivery with its attempts.
    const { items } = await callerFor(t.ownerId).webhooks.deliveries({ orgId: t.org.id, limit: 10 });
    const alerts = items.filter((d) => d.eventType === "budget.threshold_crossed");
    expect(alerts).toHaveLength(2);
    for (const d of alerts) expect(d).toMatchObject({ status: "DELIVERED", deliveredAt: expect.any(Date), nextAttemptAt: null });
    expect(alerts.flatMap((d) => d.attemptLog.map((a) => a.statusCode)).sort()).toEqual([200, 200, 500, 500]);
    expect(alerts.flatMap((d) => d.attemptLog).find((a) => a.statusCode === 500)).toMatchObject({ error: "Answered HTTP 500", durationMs: expect.any(Number) });

    // The alerts themselves, in the console and the audit trail.
    const budget = await callerFor(t.member.user.id).budgets.get({ orgId: t.org.id });
    expect(budget).toMatchObject({ budget: { monthlyBudgetEur: 1, mode: "SOFT", alertThresholds: [50, 80, 100] }, percentUsed: 85, hardLimitReached: false });
    expect(budget.alerts.map((a) => a.threshold)).toEqual([50, 80]);
    const audit = await db.auditEvent.findMany({ where: { orgId: t.org.id, action: "budget.threshold_crossed" }, orderBy: { seq: "asc" } });
    expect(audit.map((e) => [e.actorType, e.actorLabel, (e.after as { threshold: number }).threshold])).toEqual([
      ["SYSTEM", "budget evaluation", 50],
      ["SYSTEM", "budget evaluation", 80],
    ]);

    // Evaluated again: nothing new. Past 100 %: one more.
    expect(await alertsRaisedFor(t.org.id)).toBe(0);
    await db.usageRecord.createMany({ data: [usage(t.org.id, 200_000)] });
    expect(await alertsRaisedFor(t.org.id)).toBe(1);
    await waitFor(() => receiver.received.filter((r) => r.answered === 200).length === 3, 10_000);
    const last = receiver.received.at(-1)!;
    expect(receiverVerifies(secret, last)).toBe(true);
    expect(JSON.parse(last.body).data).toMatchObject({ threshold: 100, percentUsed: 105 });
  });

  it("re-arms the thresholds when the budget amount changes", async () => {
    await callerFor(t.admin.user.id).budgets.set({ orgId: t.org.id, monthlyBudgetEur: 2, mode: "SOFT", alertThresholds: [50, 80, 100] });
    // €1.05 of €2: 50 % again, at this amount.
    expect(await alertsRaisedFor(t.org.id)).toBe(1);
    const budget = await callerFor(t.ownerId).budgets.get({ orgId: t.org.id });
    expect(budget.alerts.filter((a) => a.budgetEur === 2).map((a) => a.threshold)).toEqual([50]);
    await waitFor(() => receiver.received.filter((r) => r.answered === 200).length === 4, 10_000);
  });

  it("sends a test event on demand, and a rotated secret signs what follows (the old one no longer verifies)", async () => {
    const admin = callerFor(t.admin.user.id);
    const test = await admin.webhooks.sendTest({ orgId: t.org.id });
    expect(test).toMatchObject({ eventType: "webhook.test", status: "PENDING" });
    await waitFor(() => receiver.received.some((r) => JSON.parse(r.body).id === test.eventId), 10_000);
    const got = receiver.received.find((r) => JSON.parse(r.body).id === test.eventId)!;
    expect(receiverVerifies(secret, got)).toBe(true);
    expect(JSON.parse(got.body)).toMatchObject({ type: "webhook.test", data: { message: expect.any(String) } });

    const rotated = await admin.webhooks.rotateSecret({ orgId: t.org.id });
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(secret);
    const next = await admin.webhooks.sendTest({ orgId: t.org.id });
    await waitFor(() => receiver.received.some((r) => JSON.parse(r.body).id === next.eventId), 10_000);
    const signedAfter = receiver.received.find((r) => JSON.parse(r.body).id === next.eventId)!;
    expect(receiverVerifies(rotated.secret!, signedAfter)).toBe(true);
    expect(receiverVerifies(secret, signedAfter)).toBe(false);
    // A tampered body does not verify.
    expect(receiverVerifies(rotated.secret!, { ...signedAfter, body: signedAfter.body.replace("webhook.test", "webhook.tesT") })).toBe(false);
    secret = rotated.secret!;
  });

  it("queues nothing for a disabled webhook, and refuses a test event for it", async () => {
    const admin = callerFor(t.admin.user.id);
    await admin.webhooks.set({ orgId: t.org.id, url: receiver.url, enabled: false });
    const before = await db.webhookDelivery.count({ where: { orgId: t.org.id } });
    await admin.budgets.set({ orgId: t.org.id, monthlyBudgetEur: 1.5, mode: "SOFT", alertThresholds: [50] });
    expect(await alertsRaisedFor(t.org.id)).toBe(1);
    expect(await db.webhookDelivery.count({ where: { orgId: t.org.id } })).toBe(before);
    expect(await refusal(() => admin.webhooks.sendTest({ orgId: t.org.id }))).toMatchObject({ code: "PRECONDITION_FAILED", message: "The webhook is disabled: enable it to send a test event" });
    await admin.webhooks.set({ orgId: t.org.id, url: receiver.url, enabled: true });
  });
});

describe("another organisation", () => {
  it("sees none of the first one's webhook, deliveries or alerts, and cannot reach them by id", async () => {
    const [first, second] = await Promise.all([createTenant("webhook-first"), createTenant("webhook-second")]);
    const receiver = await startReceiver();
    try {
      await callerFor(first.admin.user.id).webhooks.set({ orgId: first.org.id, url: receiver.url, enabled: true });
      await callerFor(first.admin.user.id).budgets.set({ orgId: first.org.id, monthlyBudgetEur: 0.01, mode: "SOFT", alertThresholds: [10] });
      await db.usageRecord.createMany({ data: [usage(first.org.id, 5_000)] });
      expect(await alertsRaisedFor(first.org.id)).toBe(1);
      await waitFor(() => receiver.received.length >= 1, 10_000);
      const theirs = callerFor(second.admin.user.id);
      expect(await theirs.webhooks.get({ orgId: second.org.id })).toBeNull();
      expect((await theirs.webhooks.deliveries({ orgId: second.org.id, limit: 50 })).items).toEqual([]);
      expect((await theirs.budgets.get({ orgId: second.org.id })).alerts).toEqual([]);
      for (const call of [() => theirs.webhooks.deliveries({ orgId: first.org.id, limit: 50 }), () => theirs.budgets.get({ orgId: first.org.id }), () => theirs.webhooks.rotateSecret({ orgId: first.org.id })]) {
        expect(await refusal(call)).toMatchObject({ code: "FORBIDDEN", message: "You are not a member of this organisation" });
      }
    } finally {
      await receiver.close();
    }
  });
});

describe("a receiver that never answers 2xx", () => {
  it("is retried with growing delays, then given up; a redirect is not followed", async () => {
    const t = await createTenant("webhook-failing");
    const receiver = await startReceiver((n) => (n === 1 ? 302 : 503));
    try {
      const admin = callerFor(t.admin.user.id);
      const { secret } = await admin.webhooks.set({ orgId: t.org.id, url: receiver.url, enabled: true });
      const test = await admin.webhooks.sendTest({ orgId: t.org.id });
      await waitFor(async () => (await db.webhookDelivery.findUniqueOrThrow({ where: { id: test.id } })).status === "FAILED", 15_000);
      // maxAttempts is 4 in this suite's delivery loop.
      expect(receiver.received).toHaveLength(4);
      expect(new Set(receiver.received.map((r) => JSON.parse(r.body).id))).toEqual(new Set([test.eventId]));
      for (const r of receiver.received) expect(receiverVerifies(secret!, r)).toBe(true);
      expect(receiver.received.map((r) => r.headers["enclave-delivery-attempt"])).toEqual(["1", "2", "3", "4"]);

      const { items } = await callerFor(t.ownerId).webhooks.deliveries({ orgId: t.org.id, limit: 5 });
      const d = items.find((i) => i.id === test.id)!;
      expect(d).toMatchObject({ status: "FAILED", attempts: 4, deliveredAt: null, nextAttemptAt: null });
      expect(d.attemptLog.map((a) => a.error)).toEqual(["Answered HTTP 302 (redirects are not followed)", "Answered HTTP 503", "Answered HTTP 503", "Answered HTTP 503"]);
      // Exponential backoff: each wait is at least 0.8 × 100 ms × 2^(n-1) (a lower bound: slowness only lengthens it).
      const at = d.attemptLog.map((a) => a.at.getTime());
      for (let i = 1; i < at.length; i++) expect(at[i] - at[i - 1]).toBeGreaterThanOrEqual(Math.floor(0.8 * 100 * 2 ** (i - 1)));
      expect([1, 2, 3, 4].map((n) => retryDelayMs(n, { retryBaseMs: 10_000, maxDelayMs: 3_600_000 }, 0.5))).toEqual([10_000, 20_000, 40_000, 80_000]);
      expect(retryDelayMs(20, { retryBaseMs: 10_000, maxDelayMs: 3_600_000 }, 0.5)).toBe(3_600_000);
    } finally {
      await receiver.close();
    }
  });
});

describe("which URLs a webhook may have", () => {
  let t: Tenant;
  beforeAll(async () => {
    t = await createTenant("webhook-urls");
  });
  const set = (url: string) => refusal(() => callerFor(t.admin.user.id).webhooks.set({ orgId: t.org.id, url, enabled: true }));

  it.each([
    ["http://hooks.example.org/enclave", "Use an https:// URL (http:// is accepted only for this machine's loopback, in development)"],
    ["ftp://hooks.example.org/enclave", "Use an https:// URL"],
    ["https://user:secret@hooks.example.org/enclave", "Put no user name or password in the URL: your receiver authenticates Enclave's calls by their signature"],
    ["https://10.1.2.3/enclave", "10.1.2.3 is a private network address: Enclave calls only public addresses (an operator may allow private networks with ENCLAVE_WEBHOOK_ALLOW_PRIVATE_NETWORKS=1)"],
    ["https://192.168.1.20:8443/enclave", "192.168.1.20 is a private network address"],
    ["https://[::ffff:10.0.0.1]/enclave", "::ffff:a00:1 is a private network address"],
    ["https://[fd12:3456::1]/enclave", "fd12:3456::1 is a private network address"],
    ["https://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local, reserved or multicast address, which Enclave never calls"],
    ["https://0.0.0.0/enclave", "0.0.0.0 is a link-local, reserved or multicast address"],
    ["not a url", "Enter a full URL, e.g. https://hooks.example.org/enclave"],
  ])("refuses %s", async (url, message) => {
    const r = await set(url);
    expect(r.code).toBe("BAD_REQUEST");
    expect(r.message).toContain(message);
    expect(await db.webhook.count({ where: { orgId: t.org.id } })).toBe(0);
  });

  it("accepts a public https URL (not resolved when saved), and loopback only where development allows it", async () => {
    expect(await callerFor(t.admin.user.id).webhooks.set({ orgId: t.org.id, url: "https://hooks.example.org/enclave?team=finops", enabled: true })).toMatchObject({ secret: expect.any(String) });
    // The audit trail does not keep the query string, which may carry a token.
    const created = await db.auditEvent.findFirstOrThrow({ where: { orgId: t.org.id, action: "webhook.created" } });
    expect((created.after as { url: string }).url).toBe("https://hooks.example.org/enclave?…");

    const production = { allowLoopback: false, allowPrivate: false };
    expect(webhookUrlProblem("http://127.0.0.1:8080/x", { allowLoopback: true, allowPrivate: false })).toBeNull();
    expect(webhookUrlProblem("http://localhost:8080/x", production)).toBe("This URL points at the Enclave server itself (loopback); use your receiver's public https:// URL");
    expect(webhookUrlProblem("https://[::1]/x", production)).toContain("loopback");
    expect(webhookUrlProblem("https://10.0.0.1/x", { allowLoopback: false, allowPrivate: true })).toBeNull();
    expect(webhookUrlProblem("https://169.254.169.254/x", { allowLoopback: true, allowPrivate: true })).toContain("never calls");
  });

  it("checks at delivery the addresses a name resolves to, so a name pointing inside is refused", async () => {
    const production = { allowLoopback: false, allowPrivate: false };
    // A real DNS lookup through the guard the delivery uses ("localhost" resolves to loopback everywhere).
    const refused = await new Promise<NodeJS.ErrnoException | null>((resolve) =>
      (guardedLookup(production) as unknown as (h: string, o: object, cb: (e: NodeJS.ErrnoException | null) => void) => void)("localhost", {}, (e) => resolve(e)),
    );
    expect(refused?.message).toMatch(/^localhost resolves to (127\.0\.0\.1|::1), which Enclave does not call \(.* is this server's own loopback address/);
    const allowed = await new Promise<unknown>((resolve) =>
      (guardedLookup({ allowLoopback: true, allowPrivate: false }) as unknown as (h: string, o: object, cb: (e: unknown, a: unknown) => void) => void)("localhost", {}, (e, a) => resolve(e ?? a)),
    );
    expect(allowed).toMatch(/^(127\.0\.0\.1|::1)$/);
    // And the whole POST: refused before any byte is sent.
    const receiver = await startReceiver();
    try {
      const result = await postWebhook(receiver.url.replace("127.0.0.1", "localhost"), "{}", {}, { timeoutMs: 2000, policy: production });
      expect(result).toMatchObject({ statusCode: null, error: expect.stringContaining("loopback") });
      expect(receiver.received).toHaveLength(0);
    } finally {
      await receiver.close();
    }
  });
});
