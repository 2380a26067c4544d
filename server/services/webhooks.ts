/**
 * An organisation's webhook (docs/budgets.md, "Webhooks"): one https endpoint that Enclave POSTs
 * events to (budget alerts, test events), signed with HMAC-SHA256 and retried with exponential
 * backoff from the "WebhookDelivery" table by the workers (workers/jobs/deliver-webhooks.ts).
 *
 * The signing secret is never stored: it is derived, HMAC-SHA256 of this installation's webhook
 * key over the webhook's id and a random salt kept in its row, and shown once when created or
 * rotated. A copy of the database alone cannot sign. The key is `ENCLAVE_WEBHOOK_KEY`, or a key
 * generated once into `.data/webhook-key` (mode 0600) and read by every process of the checkout.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import type { WebhookEventType, WebhookInput } from "../../lib/budgets";
import { db, type Tx } from "../db";
import { badRequest, notFound, preconditionFailed } from "../errors";
import { generatedSecret } from "../generated-secret";
import type { Prisma } from "../generated/prisma/client";
import { logger } from "../logger";
import { accountableUserId, recordAudit, type Actor } from "./audit";
import { WEBHOOK_CHANNEL } from "./channels";

// ─── The signing secret ──────────────────────────────────────────────────────

export const WEBHOOK_KEY_ENV = "ENCLAVE_WEBHOOK_KEY";
const MIN_KEY_LENGTH = 32;
let fileKey: string | null = null;

/** Where the generated key lives: the checkout's .data/ (every process runs from the repository's root). */
export const defaultWebhookKeyFile = () => path.resolve(process.cwd(), ".data", "webhook-key");


/** This installation's webhook key (environment first, else the generated file). Never log it. */
function webhookKey(): string {
  const fromEnv = process.env[WEBHOOK_KEY_ENV];
  const key = fromEnv ? fromEnv : (fileKey ??= generatedSecret(defaultWebhookKeyFile()));
  if (key.length < MIN_KEY_LENGTH) throw new Error(`${fromEnv ? WEBHOOK_KEY_ENV : defaultWebhookKeyFile()} must hold at least ${MIN_KEY_LENGTH} characters`);
  return key;
}

/** The webhook's signing secret: `whsec_` + base64url(HMAC-SHA256(key, id + salt)). */
export function webhookSecret(webhook: { id: string; secretSalt: string }): string {
  return `whsec_${createHmac("sha256", webhookKey()).update(`enclave-webhook-secret/v1\n${webhook.id}\n${webhook.secretSalt}`).digest("base64url")}`;
}

/** The `Enclave-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export function signatureHeader(secret: string, body: string, timestamp: number): string {
  return `t=${timestamp},v1=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/**
 * What a receiver does (docs/budgets.md has the same in a few lines): recompute the HMAC over
 * "<t>.<raw body>", compare in constant time, and refuse old timestamps (replays).
 */
export function verifySignature(secret: string, body: string, header: string | undefined, options: { toleranceSeconds?: number; now?: number } = {}): boolean {
  if (!header) return false;
  const parts = new Map(header.split(",").map((p) => p.trim().split("=", 2) as [string, string]));
  const t = Number(parts.get("t"));
  const v1 = parts.get("v1") ?? "";
  if (!Number.isInteger(t) || !/^[0-9a-f]{64}$/.test(v1)) return false;
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (Math.abs(now - t) > (options.toleranceSeconds ?? 300)) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, "hex"));
}

// ─── Which URLs may be called ────────────────────────────────────────────────

export interface WebhookNetworkPolicy {
  /** This machine's loopback (127.0.0.0/8, ::1, localhost), over http or https: development and tests. */
  allowLoopback: boolean;
  /** Private networks (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7): on-premises receivers, when the operator says so. */
  allowPrivate: boolean;
}

/** `ENCLAVE_WEBHOOK_ALLOW_LOOPBACK` (default: on outside production), `ENCLAVE_WEBHOOK_ALLOW_PRIVATE_NETWORKS` (default off). */
export function webhookNetworkPolicy(env: NodeJS.ProcessEnv = process.env): WebhookNetworkPolicy {
  const loopback = env.ENCLAVE_WEBHOOK_ALLOW_LOOPBACK;
  return {
    allowLoopback: loopback === "1" || (loopback !== "0" && env.NODE_ENV !== "production"),
    allowPrivate: env.ENCLAVE_WEBHOOK_ALLOW_PRIVATE_NETWORKS === "1",
  };
}

function blockList(v4: [string, number][], v6: [string, number][]) {
  const list = new net.BlockList();
  for (const [a, p] of v4) list.addSubnet(a, p, "ipv4");
  for (const [a, p] of v6) list.addSubnet(a, p, "ipv6");
  return list;
}
const LOOPBACK = blockList([["127.0.0.0", 8]], [["::1", 128]]);
const PRIVATE = blockList(
  [["10.0.0.0", 8], ["172.16.0.0", 12], ["192.168.0.0", 16], ["100.64.0.0", 10], ["198.18.0.0", 15]],
  [["fc00::", 7]],
);
// Never, whatever the policy: unspecified, link-local (cloud metadata services live there), multicast, reserved.
const NEVER = blockList(
  [["0.0.0.0", 8], ["169.254.0.0", 16], ["192.0.0.0", 24], ["192.0.2.0", 24], ["198.51.100.0", 24], ["203.0.113.0", 24], ["224.0.0.0", 4], ["240.0.0.0", 4]],
  [["::", 128], ["fe80::", 10], ["ff00::", 8], ["64:ff9b::", 96], ["2001:db8::", 32]],
);

const family = (ip: string) => (net.isIPv6(ip) ? "ipv6" : "ipv4");

/** Why Enclave will not call this address ("10.0.0.1 is a private network address…"), or null. */
export function addressProblem(ip: string, policy: WebhookNetworkPolicy): string | null {
  const f = family(ip);
  if (LOOPBACK.check(ip, f)) {
    return policy.allowLoopback ? null : `${ip} is this server's own loopback address: use your receiver's public https:// URL`;
  }
  if (NEVER.check(ip, f)) return `${ip} is a link-local, reserved or multicast address, which Enclave never calls`;
  if (PRIVATE.check(ip, f) && !policy.allowPrivate) {
    return `${ip} is a private network address: Enclave calls only public addresses (an operator may allow private networks with ENCLAVE_WEBHOOK_ALLOW_PRIVATE_NETWORKS=1)`;
  }
  return null;
}

/** Why this URL cannot be a webhook, or null. The names it resolves to are checked again at each delivery. */
export function webhookUrlProblem(raw: string, policy: WebhookNetworkPolicy = webhookNetworkPolicy()): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "Enter a full URL, e.g. https://hooks.example.org/enclave";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "Use an https:// URL";
  if (url.username || url.password) return "Put no user name or password in the URL: your receiver authenticates Enclave's calls by their signature";
  const host = url.hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "").toLowerCase();
  const ip = net.isIP(host) ? host : null;
  const loopback = host === "localhost" || host.endsWith(".localhost") || (ip !== null && LOOPBACK.check(ip, family(ip)));
  if (loopback) {
    if (!policy.allowLoopback) return "This URL points at the Enclave server itself (loopback); use your receiver's public https:// URL";
    return null;
  }
  if (url.protocol === "http:") return "Use an https:// URL (http:// is accepted only for this machine's loopback, in development)";
  if (ip) return addressProblem(ip, policy);
  return null;
}

/** A URL as the audit trail shows it: without its query string, which may carry a token. */
function redactedUrl(raw: string): string {
  const url = new URL(raw);
  return `${url.protocol}//${url.host}${url.pathname}${url.search ? "?…" : ""}`;
}

// ─── The organisation's webhook ──────────────────────────────────────────────

const webhookSelect = { id: true, url: true, enabled: true, secretHint: true, createdAt: true, updatedAt: true } as const;

export function getWebhook(orgId: string) {
  return db.webhook.findUnique({ where: { orgId }, select: webhookSelect });
}

function newSalt() {
  return randomBytes(16).toString("base64url");
}

const hintOf = (secret: string) => `${secret.slice(0, 10)}…`;

/** Creates the webhook (its secret is in the answer, once) or changes its URL or whether it is enabled. */
export async function setWebhook(orgId: string, actor: Actor, input: WebhookInput) {
  const problem = webhookUrlProblem(input.url);
  if (problem) throw badRequest(problem, "url");
  return db.$transaction(async (tx) => {
    const before = await tx.webhook.findUnique({ where: { orgId } });
    if (before) {
      if (before.url === input.url && before.enabled === input.enabled) return { ...pick(before), secret: null };
      const after = await tx.webhook.update({ where: { orgId }, data: { url: input.url, enabled: input.enabled } });
      await recordAudit(tx, actor, {
        orgId,
        action: "webhook.updated",
        targetType: "Webhook",
        targetId: after.id,
        before: { url: redactedUrl(before.url), enabled: before.enabled },
        after: { url: redactedUrl(after.url), enabled: after.enabled },
      });
      return { ...pick(after), secret: null };
    }
    // The id is chosen here: the secret is derived from it and shown in this very answer.
    const id = `whk_${randomBytes(12).toString("base64url")}`;
    const secretSalt = newSalt();
    const secret = webhookSecret({ id, secretSalt });
    const created = await tx.webhook.create({
      data: { id, orgId, url: input.url, enabled: input.enabled, secretSalt, secretHint: hintOf(secret), createdById: accountableUserId(actor) },
    });
    await recordAudit(tx, actor, { orgId, action: "webhook.created", targetType: "Webhook", targetId: id, after: { url: redactedUrl(created.url), enabled: created.enabled, secret: created.secretHint } });
    return { ...pick(created), secret };
  });
}

function pick(w: { id: string; url: string; enabled: boolean; secretHint: string; createdAt: Date; updatedAt: Date }) {
  return { id: w.id, url: w.url, enabled: w.enabled, secretHint: w.secretHint, createdAt: w.createdAt, updatedAt: w.updatedAt };
}

/** A new signing secret, in the answer once; the previous one stops verifying at once. */
export async function rotateWebhookSecret(orgId: string, actor: Actor) {
  return db.$transaction(async (tx) => {
    const before = await tx.webhook.findUnique({ where: { orgId } });
    if (!before) throw notFound("This organisation's webhook");
    const secretSalt = newSalt();
    const secret = webhookSecret({ id: before.id, secretSalt });
    const after = await tx.webhook.update({ where: { orgId }, data: { secretSalt, secretHint: hintOf(secret) } });
    await recordAudit(tx, actor, { orgId, action: "webhook.secret_rotated", targetType: "Webhook", targetId: after.id, before: { secret: before.secretHint }, after: { secret: after.secretHint } });
    return { ...pick(after), secret };
  });
}

export async function removeWebhook(orgId: string, actor: Actor) {
  return db.$transaction(async (tx) => {
    const before = await tx.webhook.findUnique({ where: { orgId } });
    if (!before) throw notFound("This organisation's webhook");
    await tx.webhook.delete({ where: { orgId } });
    await recordAudit(tx, actor, { orgId, action: "webhook.removed", targetType: "Webhook", targetId: before.id, before: { url: redactedUrl(before.url), enabled: before.enabled } });
    return { id: before.id, removed: true as const };
  });
}

/** Queues a `webhook.test` event for the organisation's webhook (the workers deliver it within seconds). */
export async function sendTestEvent(orgId: string, actor: Actor) {
  return db.$transaction(async (tx) => {
    const webhook = await tx.webhook.findUnique({ where: { orgId }, select: { id: true, enabled: true } });
    if (!webhook) throw notFound("This organisation's webhook");
    if (!webhook.enabled) throw preconditionFailed("The webhook is disabled: enable it to send a test event", "enabled");
    const delivery = await enqueueWebhookEvent(tx, orgId, "webhook.test", { message: "A test event from Enclave: your endpoint received it, and can verify its signature." });
    await recordAudit(tx, actor, { orgId, action: "webhook.test_sent", targetType: "WebhookDelivery", targetId: delivery!.id, after: { eventId: delivery!.eventId, eventType: "webhook.test" } });
    return deliveryView(delivery!);
  });
}

export interface WebhookAttempt {
  at: string;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

type DeliveryRow = Prisma.WebhookDeliveryGetPayload<object>;

function deliveryView(d: DeliveryRow) {
  return {
    id: d.id,
    eventId: d.eventId,
    eventType: d.eventType,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.status === "PENDING" ? d.nextAttemptAt : null,
    deliveredAt: d.deliveredAt,
    createdAt: d.createdAt,
    attemptLog: ((d.attemptLog as unknown as WebhookAttempt[] | null) ?? []).map((a) => ({ ...a, at: new Date(a.at) })),
  };
}

/** The organisation's deliveries, newest first. */
export async function listDeliveries(orgId: string) {
  const rows = await db.webhookDelivery.findMany({ where: { orgId }, orderBy: [{ createdAt: "desc" }, { id: "desc" }], take: 500 });
  return rows.map(deliveryView);
}

/**
 * Queues an event for the organisation's webhook in the caller's transaction (the delivery exists
 * if and only if what it reports was committed) and wakes the workers on commit. Returns null when
 * the organisation has no webhook, or a disabled one.
 */
export async function enqueueWebhookEvent(
  tx: Tx,
  orgId: string,
  type: WebhookEventType,
  data: Record<string, unknown>,
): Promise<DeliveryRow | null> {
  const webhook = await tx.webhook.findUnique({ where: { orgId }, select: { id: true, enabled: true, org: { select: { id: true, slug: true, name: true } } } });
  if (!webhook || !webhook.enabled) return null;
  const eventId = `evt_${randomBytes(16).toString("base64url")}`;
  const body = JSON.stringify({ id: eventId, type, created: Math.floor(Date.now() / 1000), organization: webhook.org, data });
  const delivery = await tx.webhookDelivery.create({ data: { orgId, webhookId: webhook.id, eventId, eventType: type, body } });
  await tx.$executeRaw`SELECT pg_notify(${WEBHOOK_CHANNEL}, ${delivery.id})`;
  return delivery;
}

// ─── Delivery (the workers) ──────────────────────────────────────────────────

export interface DeliveryOptions {
  /** The first retry waits about this long; each next one twice as long (±20 %), up to `maxDelayMs`. */
  retryBaseMs?: number;
  maxDelayMs?: number;
  /** After this many failed attempts, the delivery is given up (FAILED). */
  maxAttempts?: number;
  /** One attempt's deadline, connection to status line. */
  timeoutMs?: number;
  batchSize?: number;
  policy?: WebhookNetworkPolicy;
  now?: () => Date;
}

export const DELIVERY_DEFAULTS = { retryBaseMs: 10_000, maxDelayMs: 3_600_000, maxAttempts: 16, timeoutMs: 10_000, batchSize: 20 } as const;

/** The wait before attempt `failed + 1`, after `failed` failures. */
export function retryDelayMs(failed: number, options: Pick<DeliveryOptions, "retryBaseMs" | "maxDelayMs"> = {}, random = Math.random()): number {
  const base = options.retryBaseMs ?? DELIVERY_DEFAULTS.retryBaseMs;
  const max = options.maxDelayMs ?? DELIVERY_DEFAULTS.maxDelayMs;
  return Math.round(Math.min(max, base * 2 ** Math.max(0, failed - 1)) * (0.8 + 0.4 * random));
}

interface Claimed {
  id: string;
  webhookId: string;
  eventId: string;
  eventType: string;
  body: string;
  attempts: number;
  attemptLog: WebhookAttempt[];
}

/**
 * A lookup that refuses names resolving to an address the policy forbids: checked on the very
 * addresses the connection will use, so a name re-pointed after it was saved (DNS rebinding) is
 * refused too.
 */
export function guardedLookup(policy: WebhookNetworkPolicy): net.LookupFunction {
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error);
      const list = addresses as dns.LookupAddress[];
      for (const a of list) {
        const problem = addressProblem(a.address, policy);
        if (problem) return callback(Object.assign(new Error(`${hostname} resolves to ${a.address}, which Enclave does not call (${problem})`), { code: "EWEBHOOKADDRESS" }));
      }
      if (options.all) callback(null, list);
      else callback(null, list[0]!.address, list[0]!.family);
    });
  }) as unknown as net.LookupFunction;
}

/** One POST: the status code, or why there is none. Redirects are not followed; the body is not read. */
export function postWebhook(rawUrl: string, body: string, headers: Record<string, string>, options: { timeoutMs: number; policy: WebhookNetworkPolicy }): Promise<Omit<WebhookAttempt, "at">> {
  const started = performance.now();
  const done = (statusCode: number | null, error: string | null) => ({ statusCode, error, durationMs: Math.round(performance.now() - started) });
  const problem = webhookUrlProblem(rawUrl, options.policy);
  if (problem) return Promise.resolve(done(null, problem));
  const url = new URL(rawUrl);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (statusCode: number | null, error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      resolve(done(statusCode, error));
    };
    const request = url.protocol === "https:" ? https.request : http.request;
    const req = request(url, {
      method: "POST",
      headers: { ...headers, "content-length": Buffer.byteLength(body) },
      lookup: guardedLookup(options.policy),
      agent: false,
    });
    const deadline = setTimeout(() => finish(null, `No answer within ${Math.round(options.timeoutMs / 1000)} s`), options.timeoutMs);
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      finish(status, status >= 200 && status < 300 ? null : `Answered HTTP ${status}${status >= 300 && status < 400 ? " (redirects are not followed)" : ""}`);
    });
    req.on("error", (error: NodeJS.ErrnoException) => {
      const why =
        error.code === "EWEBHOOKADDRESS"
          ? error.message
          : error.code === "ECONNREFUSED"
            ? "Connection refused"
            : error.code === "ENOTFOUND"
              ? `${url.hostname} does not resolve`
              : error.code === "ECONNRESET"
                ? "Connection reset"
                : `Could not connect (${error.code ?? error.message})`;
      finish(null, why);
    });
    req.end(body);
  });
}

/** Claims due deliveries (a claim lasts `lock` s, so a crashed worker's are retried) and attempts each once. */
export async function deliverDueWebhooks(options: DeliveryOptions = {}): Promise<{ attempted: number; delivered: number; failed: number }> {
  const o = { ...DELIVERY_DEFAULTS, policy: webhookNetworkPolicy(), now: () => new Date(), ...options };
  const now = o.now();
  const lockSeconds = Math.ceil(o.timeoutMs / 1000) + 30;
  const claimed = await db.$queryRaw<Claimed[]>`
    UPDATE "WebhookDelivery" d SET "lockedUntil" = ${new Date(now.getTime() + lockSeconds * 1000).toISOString()}::timestamp
    FROM (
      SELECT id FROM "WebhookDelivery"
      WHERE status = 'PENDING' AND "nextAttemptAt" <= ${now.toISOString()}::timestamp AND ("lockedUntil" IS NULL OR "lockedUntil" < ${now.toISOString()}::timestamp)
      ORDER BY "nextAttemptAt" LIMIT ${o.batchSize} FOR UPDATE SKIP LOCKED
    ) due
    WHERE d.id = due.id
    RETURNING d.id, d."webhookId", d."eventId", d."eventType", d.body, d.attempts, d."attemptLog"`;
  let delivered = 0;
  let failed = 0;
  await Promise.all(
    claimed.map(async (d) => {
      const webhook = await db.webhook.findUnique({ where: { id: d.webhookId }, select: { id: true, url: true, enabled: true, secretSalt: true } });
      if (!webhook) return; // removed meanwhile: its deliveries went with it
      const attempt = d.attempts + 1;
      const at = new Date();
      const result = !webhook.enabled
        ? { statusCode: null, error: "The webhook is disabled", durationMs: 0 }
        : await postWebhook(webhook.url, d.body, {
            "content-type": "application/json",
            "user-agent": "Enclave-Webhooks/1",
            "enclave-event-id": d.eventId,
            "enclave-event-type": d.eventType,
            "enclave-delivery-attempt": String(attempt),
            "enclave-signature": signatureHeader(webhookSecret(webhook), d.body, Math.floor(at.getTime() / 1000)),
          }, o);
      const ok = result.error === null;
      const giveUp = !ok && (attempt >= o.maxAttempts || result.error === "The webhook is disabled");
      const log = [...(d.attemptLog ?? []), { at: at.toISOString(), ...result }].slice(-o.maxAttempts);
      await db.webhookDelivery.update({
        where: { id: d.id },
        data: {
          attempts: attempt,
          attemptLog: log as unknown as Prisma.InputJsonValue,
          lockedUntil: null,
          status: ok ? "DELIVERED" : giveUp ? "FAILED" : "PENDING",
          deliveredAt: ok ? at : null,
          nextAttemptAt: ok || giveUp ? at : new Date(at.getTime() + retryDelayMs(attempt, o)),
        },
      });
      if (ok) delivered++;
      else {
        failed++;
        logger.warn("webhook delivery failed", { deliveryId: d.id, eventType: d.eventType, attempt, giveUp, error: result.error, statusCode: result.statusCode });
      }
    }),
  );
  return { attempted: claimed.length, delivered, failed };
}
