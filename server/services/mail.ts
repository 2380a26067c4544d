/**
 * Outgoing mail (docs/email.md): a durable outbox, the "MailMessage" table. A domain action queues
 * its mail in its own transaction (a rolled-back action sends nothing); the workers, polling every
 * two seconds, send it through SMTP (nodemailer, `SMTP_URL`) with retries and backoff
 * (workers/jobs/deliver-mail.ts). Without `SMTP_URL` a mail is written `OUTBOX_ONLY`: platform
 * admins read it at /admin/outbox, so a demo shows what would have been sent.
 *
 * Invitation mails carry their accept link, a secret: the stored body keeps it only until the mail
 * is sent (then the token is cut out), and an outbox-only copy is readable by platform admins only
 * and dies with the invitation (accepted, revoked or expired: only the token's hash is checked).
 */
import nodemailer, { type Transporter } from "nodemailer";
import { db, type Tx } from "../db";
import { mailEnv } from "../env";
import { notFound } from "../errors";
import type { MailKind, MailStatus } from "../generated/prisma/enums";
import { logger } from "../logger";
import type { RenderedMail } from "./mail-templates";

/** The console's absolute URL for `path` (mail links leave the browser, so they need an origin). */
export function consoleUrl(path: string): string {
  return new URL(path, mailEnv().NEXTAUTH_URL ?? "http://localhost:3000").toString();
}

/**
 * Queues one mail per recipient in the caller's transaction. Status: QUEUED when SMTP is
 * configured, else OUTBOX_ONLY (kept for the admin outbox, never sent).
 */
export async function queueMail(tx: Tx, input: { kind: MailKind; orgId: string | null; to: string[]; mail: RenderedMail }): Promise<number> {
  const to = [...new Set(input.to.map((t) => t.trim().toLowerCase()).filter(Boolean))];
  if (to.length === 0) return 0;
  const status: MailStatus = mailEnv().SMTP_URL ? "QUEUED" : "OUTBOX_ONLY";
  await tx.mailMessage.createMany({ data: to.map((address) => ({ kind: input.kind, orgId: input.orgId, to: address, subject: input.mail.subject, text: input.mail.text, html: input.mail.html, status })) });
  return to.length;
}

// ─── Delivery (the workers) ──────────────────────────────────────────────────

export interface MailDeliveryOptions {
  /** The first retry waits about this long; each next one twice as long (±20 %), up to `maxDelayMs`. */
  retryBaseMs?: number;
  maxDelayMs?: number;
  /** After this many failed attempts the mail is given up (FAILED). */
  maxAttempts?: number;
  /** One attempt's deadline: connection, greeting and the whole SMTP exchange. */
  timeoutMs?: number;
  batchSize?: number;
  now?: () => Date;
}

export const MAIL_DELIVERY_DEFAULTS = { retryBaseMs: 30_000, maxDelayMs: 3_600_000, maxAttempts: 10, timeoutMs: 20_000, batchSize: 20 } as const;

export function mailRetryDelayMs(failed: number, options: Pick<MailDeliveryOptions, "retryBaseMs" | "maxDelayMs"> = {}, random = Math.random()): number {
  const base = options.retryBaseMs ?? MAIL_DELIVERY_DEFAULTS.retryBaseMs;
  const max = options.maxDelayMs ?? MAIL_DELIVERY_DEFAULTS.maxDelayMs;
  return Math.round(Math.min(max, base * 2 ** Math.max(0, failed - 1)) * (0.8 + 0.4 * random));
}

let transport: { url: string; timeoutMs: number; transporter: Transporter } | null = null;

function transporterFor(url: string, timeoutMs: number): Transporter {
  if (transport?.url === url && transport.timeoutMs === timeoutMs) return transport.transporter;
  transport?.transporter.close();
  // No pool: each batch's sends are few, and a fresh connection sees a changed server at once.
  const transporter = nodemailer.createTransport(url, { connectionTimeout: timeoutMs, greetingTimeout: timeoutMs, socketTimeout: timeoutMs, logger: false, debug: false });
  transport = { url, timeoutMs, transporter };
  return transporter;
}

/**
 * Why a send failed, in words fit for the outbox and the log: the SMTP reply or the network error
 * code, with anything of the SMTP URL (user, password) cut out.
 */
export function describeSendError(error: unknown, smtpUrl: string): string {
  const e = error as { code?: string; responseCode?: number; response?: string; message?: string };
  let why = e.responseCode ? `The SMTP server answered ${e.response ?? e.responseCode}` : e.code === "ECONNREFUSED" || /ECONNREFUSED/.test(e.message ?? "") ? "Connection refused" : e.code === "ETIMEDOUT" ? "The SMTP server did not answer in time" : e.code === "EAUTH" ? "The SMTP server refused the credentials" : `Could not send (${e.code ?? e.message ?? "unknown error"})`;
  const url = new URL(smtpUrl);
  for (const secret of [smtpUrl, url.password, decodeURIComponent(url.password), url.username, decodeURIComponent(url.username)]) {
    if (secret.length >= 3) why = why.split(secret).join("***");
  }
  return why.replace(/\s+/g, " ").trim().slice(0, 300);
}

/** Cut an invitation's token out of a sent mail: the mailbox has it now, the outbox need not. */
const INVITATION_TOKEN = /inv_[A-Za-z0-9_-]{43}/g;
const scrub = (s: string | null) => s?.replace(INVITATION_TOKEN, "inv_[removed once sent]") ?? null;

interface ClaimedMail {
  id: string;
  kind: MailKind;
  to: string;
  subject: string;
  text: string;
  html: string | null;
  attempts: number;
}

/** Claims due queued mail (a claim lasts beyond one attempt's deadline, so a crashed worker's is retried) and sends each once. */
export async function deliverDueMail(options: MailDeliveryOptions = {}): Promise<{ attempted: number; sent: number; failed: number }> {
  const o = { ...MAIL_DELIVERY_DEFAULTS, now: () => new Date(), ...options };
  const settings = mailEnv();
  if (!settings.SMTP_URL) return { attempted: 0, sent: 0, failed: 0 };
  const smtpUrl = settings.SMTP_URL;
  const now = o.now();
  const lockUntil = new Date(now.getTime() + (Math.ceil(o.timeoutMs / 1000) * 3 + 30) * 1000);
  const claimed = await db.$queryRaw<ClaimedMail[]>`
    UPDATE "MailMessage" m SET "lockedUntil" = ${lockUntil.toISOString()}::timestamp
    FROM (
      SELECT id FROM "MailMessage"
      WHERE status = 'QUEUED' AND "nextAttemptAt" <= ${now.toISOString()}::timestamp AND ("lockedUntil" IS NULL OR "lockedUntil" < ${now.toISOString()}::timestamp)
      ORDER BY "nextAttemptAt" LIMIT ${o.batchSize} FOR UPDATE SKIP LOCKED
    ) due
    WHERE m.id = due.id
    RETURNING m.id, m.kind, m."to", m.subject, m.text, m.html, m.attempts`;
  if (claimed.length === 0) return { attempted: 0, sent: 0, failed: 0 };
  const transporter = transporterFor(smtpUrl, o.timeoutMs);
  let sent = 0;
  let failed = 0;
  for (const m of claimed) {
    const attempt = m.attempts + 1;
    let error: string | null = null;
    try {
      await transporter.sendMail({ from: settings.MAIL_FROM, to: m.to, subject: m.subject, text: m.text, ...(m.html ? { html: m.html } : {}), headers: { "X-Enclave-Mail-Id": m.id } });
    } catch (e) {
      error = describeSendError(e, smtpUrl);
    }
    const at = new Date();
    const giveUp = error !== null && attempt >= o.maxAttempts;
    await db.mailMessage.update({
      where: { id: m.id },
      data: {
        attempts: attempt,
        lockedUntil: null,
        lastError: error,
        status: error === null ? "SENT" : giveUp ? "FAILED" : "QUEUED",
        sentAt: error === null ? at : null,
        nextAttemptAt: error === null || giveUp ? at : new Date(at.getTime() + mailRetryDelayMs(attempt, o)),
        ...(error === null && m.kind === "INVITATION" ? { text: scrub(m.text)!, html: scrub(m.html) } : {}),
      },
    });
    if (error === null) sent++;
    else {
      failed++;
      logger.warn("mail delivery failed", { mailId: m.id, kind: m.kind, attempt, giveUp, error });
    }
  }
  return { attempted: claimed.length, sent, failed };
}

// ─── The admin outbox ────────────────────────────────────────────────────────

const summarySelect = { id: true, kind: true, to: true, subject: true, status: true, attempts: true, lastError: true, sentAt: true, createdAt: true, org: { select: { id: true, slug: true, name: true } } } as const;

/** The outbox, newest first (platform admins only: bodies hold accept links). */
export function listOutbox(filter: { status?: MailStatus; kind?: MailKind } = {}) {
  return db.mailMessage.findMany({ where: { status: filter.status, kind: filter.kind }, orderBy: [{ createdAt: "desc" }, { id: "desc" }], take: 1000, select: summarySelect });
}

export async function getMailMessage(id: string) {
  const message = await db.mailMessage.findUnique({ where: { id }, select: { ...summarySelect, text: true, html: true } });
  if (!message) throw notFound("Mail");
  return message;
}
