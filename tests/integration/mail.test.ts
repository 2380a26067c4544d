/**
 * Mail that arrives (docs/email.md): invitations, quota decisions and budget alerts are written to
 * the outbox in the transaction of their action and sent by the workers' delivery pass through a
 * real SMTP server started here (the `smtp-server` package, with a password); a refusing server
 * leaves the mail queued with its attempts counted and the reason in words (never the password),
 * and it is retried; without SMTP_URL mail stays in the outbox, which only platform admins read.
 */
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { evaluateBudgets } from "@/server/services/budgets";
import { consoleUrl, deliverDueMail, queueMail } from "@/server/services/mail";
import { pendingInvitationByToken } from "@/server/services/members";
import { callerFor, createTenant, createUser, refusal, unique, type Tenant } from "../helpers";

const SMTP_USER = "enclave";
const SMTP_PASSWORD = "s3cret-smtp-password-never-logged";

interface Received {
  from: string;
  to: string[];
  subject: string;
  body: string;
}

/** A real SMTP server on a random port: requires AUTH, records each message, and can refuse on demand. */
async function startSmtp() {
  const received: Received[] = [];
  const state = { refuse: 0 };
  const server = new SMTPServer({
    disabledCommands: ["STARTTLS"],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === SMTP_USER && auth.password === SMTP_PASSWORD) return callback(null, { user: auth.username });
      callback(Object.assign(new Error("Invalid username or password"), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        if (state.refuse > 0) {
          state.refuse--;
          return callback(Object.assign(new Error("Mailbox busy, try again later"), { responseCode: 451 }));
        }
        const raw = chunks.join("").toString();
        const headers = raw.split(/\r\n\r\n/)[0].replace(/\r\n[ \t]+/g, " ");
        // Quoted-printable: soft line breaks and =XX escapes, enough for the ASCII links asserted on.
        const body = raw
          .slice(headers.length)
          .replace(/=\r\n/g, "")
          .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          subject: /^Subject: (.*)$/im.exec(headers)?.[1] ?? "",
          body,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    received,
    state,
    url: (password = SMTP_PASSWORD) => `smtp://${SMTP_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let smtp: Awaited<ReturnType<typeof startSmtp>>;
let t: Tenant;
let platformAdminId: string;
const later = (ms: number) => () => new Date(Date.now() + ms);

beforeAll(async () => {
  smtp = await startSmtp();
  t = await createTenant("mail");
  platformAdminId = (await createUser("mail-platform-admin", { platformAdmin: true })).id;
});
afterEach(() => {
  delete process.env.SMTP_URL;
  delete process.env.MAIL_FROM;
});
afterAll(async () => {
  await smtp?.close();
});

const inbox = (address: string) => smtp.received.filter((m) => m.to.includes(address));
const mailTo = (to: string) => db.mailMessage.findFirstOrThrow({ where: { to }, orderBy: { createdAt: "desc" } });

describe("mail through SMTP", () => {
  it("delivers an invitation with its accept link, from MAIL_FROM, and cuts the token out of the stored copy once sent", async () => {
    process.env.SMTP_URL = smtp.url();
    process.env.MAIL_FROM = "Enclave Test <enclave@mail.test>";
    const email = `${unique("invitee")}@example.test`;
    const invited = await callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email, role: "MEMBER" });
    expect(await mailTo(email)).toMatchObject({ kind: "INVITATION", status: "QUEUED", orgId: t.org.id, attempts: 0 });

    expect(await deliverDueMail()).toMatchObject({ sent: 1, failed: 0 });
    const [mail] = inbox(email);
    expect(mail.from).toBe("enclave@mail.test");
    expect(mail.subject).toBe(`You are invited to join ${t.org.name} on Enclave`);
    const link = consoleUrl(invited.acceptPath);
    expect(mail.body).toContain(link);
    // The link in the mail is the one that accepts: its token finds the pending invitation.
    const token = /\/invitations\/(inv_[A-Za-z0-9_-]{43})/.exec(mail.body)![1];
    expect(await pendingInvitationByToken(token)).toMatchObject({ email, role: "MEMBER", org: { name: t.org.name } });

    const stored = await mailTo(email);
    expect(stored).toMatchObject({ status: "SENT", attempts: 1, lastError: null, sentAt: expect.any(Date) });
    expect(stored.text).not.toContain(token);
    expect(stored.html).not.toContain(token);
  });

  it("tells the requester of a quota request the decision, with the note", async () => {
    process.env.SMTP_URL = smtp.url();
    const owner = await db.user.findUniqueOrThrow({ where: { id: t.ownerId } });
    await callerFor(platformAdminId).admin.decideQuotaRequest({ requestId: t.quotaRequest.id, decision: "partial", approvedGpus: 2, note: "Two now, two more in January." });
    expect(await deliverDueMail()).toMatchObject({ sent: 1 });
    const [mail] = inbox(owner.email).filter((m) => m.subject.startsWith("Quota request"));
    expect(mail.subject).toBe(`Quota request partially approved: 2 GPUs of 4 in ${t.region.code}`);
    expect(mail.body).toContain("Two now, two more in January.");
    expect(mail.body).toContain(consoleUrl(`/o/${t.org.slug}/quotas`));
    expect(await mailTo(owner.email)).toMatchObject({ kind: "QUOTA_DECISION", status: "SENT" });
  });

  it("alerts the organisation's owners and admins, not its members or viewers, when a budget threshold is crossed", async () => {
    process.env.SMTP_URL = smtp.url();
    const o = await createTenant("mail-budget");
    await db.usageRecord.create({ data: { orgId: o.org.id, endpoint: "/v1/chat/completions", tokensIn: 1, tokensOut: 1, latencyMs: 1, status: 200, costMicroEur: 3_000_000 } });
    await callerFor(o.ownerId).budgets.set({ orgId: o.org.id, monthlyBudgetEur: 5, mode: "SOFT", alertThresholds: [50, 100] });
    await evaluateBudgets();
    await deliverDueMail();
    const owner = await db.user.findUniqueOrThrow({ where: { id: o.ownerId } });
    const recipients = smtp.received.filter((m) => m.subject.startsWith(`${o.org.name} reached`)).flatMap((m) => m.to).sort();
    expect(recipients).toEqual([owner.email, o.admin.user.email].sort());
    const [mail] = inbox(owner.email);
    expect(mail.subject).toMatch(new RegExp(`^${o.org.name} reached 50 % of its budget for \\d{4}-\\d{2}$`));
    expect(mail.body).toContain(consoleUrl(`/o/${o.org.slug}/settings`));
    expect(inbox(o.member.user.email)).toEqual([]);
    expect(inbox(o.viewer.user.email)).toEqual([]);
  });

  it("keeps a refused mail queued with its attempts and the reason, retries it after the backoff, and gives up after the last attempt", async () => {
    process.env.SMTP_URL = smtp.url();
    const email = `${unique("retry")}@example.test`;
    await callerFor(t.admin.user.id).organization.invite({ orgId: t.org.id, email, role: "VIEWER" });
    smtp.state.refuse = 1;
    expect(await deliverDueMail({ retryBaseMs: 60_000 })).toMatchObject({ attempted: 1, failed: 1 });
    const failed = await mailTo(email);
    expect(failed).toMatchObject({ status: "QUEUED", attempts: 1, sentAt: null });
    expect(failed.lastError).toMatch(/^The SMTP server answered 451 .*Mailbox busy/);
    expect(failed.nextAttemptAt.getTime()).toBeGreaterThan(Date.now() + 30_000);
    // Not due yet: nothing is attempted; once the backoff has passed, it is sent.
    expect(await deliverDueMail()).toMatchObject({ attempted: 0 });
    expect(await deliverDueMail({ now: later(120_000) })).toMatchObject({ attempted: 1, sent: 1 });
    expect(await mailTo(email)).toMatchObject({ status: "SENT", attempts: 2, lastError: null });
    expect(inbox(email)).toHaveLength(1);

    // Wrong credentials: refused in words, the password nowhere; the last attempt gives up.
    process.env.SMTP_URL = smtp.url("wrong-password-xyz");
    const other = `${unique("auth")}@example.test`;
    await callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email: other, role: "VIEWER" });
    await deliverDueMail({ maxAttempts: 2 });
    await deliverDueMail({ maxAttempts: 2, now: later(3_600_000) });
    const given = await mailTo(other);
    expect(given).toMatchObject({ status: "FAILED", attempts: 2 });
    expect(given.lastError).toMatch(/535/);
    expect(given.lastError).not.toContain("wrong-password-xyz");
    expect(inbox(other)).toEqual([]);
  });

  it("says a closed port is refused, without the URL's credentials", async () => {
    const closed = await startSmtp();
    await closed.close();
    process.env.SMTP_URL = closed.url();
    const email = `${unique("closed")}@example.test`;
    await callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email, role: "VIEWER" });
    await deliverDueMail();
    const stored = await mailTo(email);
    expect(stored).toMatchObject({ status: "QUEUED", attempts: 1, lastError: "Connection refused" });
    await db.mailMessage.update({ where: { id: stored.id }, data: { status: "FAILED" } }); // out of the later tests' way
  });

  it("queues nothing when the action rolls back", async () => {
    process.env.SMTP_URL = smtp.url();
    const email = `${unique("rollback")}@example.test`;
    await expect(
      db.$transaction(async (tx) => {
        await queueMail(tx, { kind: "INVITATION", orgId: t.org.id, to: [email], mail: { subject: "s", text: "t", html: "h" } });
        throw new Error("the action failed after queueing");
      }),
    ).rejects.toThrow("the action failed after queueing");
    // The invitation and its mail are one transaction: a mail that cannot be written undoes the invitation.
    await db.$executeRawUnsafe(`CREATE OR REPLACE FUNCTION mail_test_refuse() RETURNS trigger AS $$ BEGIN IF NEW."to" LIKE 'rollback-%' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
    await db.$executeRawUnsafe(`CREATE TRIGGER mail_test_refuse AFTER INSERT ON "MailMessage" FOR EACH ROW EXECUTE FUNCTION mail_test_refuse()`);
    try {
      await expect(callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email, role: "MEMBER" })).rejects.toThrow();
    } finally {
      await db.$executeRawUnsafe(`DROP TRIGGER mail_test_refuse ON "MailMessage"`);
      await db.$executeRawUnsafe(`DROP FUNCTION mail_test_refuse()`);
    }
    expect(await db.invitation.count({ where: { email } })).toBe(0);
    expect(await db.mailMessage.count({ where: { to: email } })).toBe(0);
    expect(await deliverDueMail()).toMatchObject({ attempted: 0 });
    expect(inbox(email)).toEqual([]);
  });
});

describe("the outbox without SMTP_URL", () => {
  it("keeps mail OUTBOX_ONLY, never sends it, and shows it to platform admins only", async () => {
    const email = `${unique("demo")}@example.test`;
    const invited = await callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email, role: "ADMIN" });
    const stored = await mailTo(email);
    expect(stored).toMatchObject({ status: "OUTBOX_ONLY", attempts: 0 });
    expect(await deliverDueMail()).toMatchObject({ attempted: 0 });
    // Configuring SMTP later does not send what was written as outbox-only.
    process.env.SMTP_URL = smtp.url();
    expect(await deliverDueMail()).toMatchObject({ attempted: 0 });
    expect(inbox(email)).toEqual([]);

    const admin = callerFor(platformAdminId);
    const listed = await admin.admin.outbox({ status: "OUTBOX_ONLY", kind: "INVITATION", limit: 200 });
    expect(listed.items.find((m) => m.id === stored.id)).toMatchObject({ to: email, subject: `You are invited to join ${t.org.name} on Enclave`, org: { slug: t.org.slug } });
    expect(listed.items.every((m) => m.status === "OUTBOX_ONLY" && m.kind === "INVITATION")).toBe(true);
    const message = await admin.admin.outboxMessage({ mailId: stored.id });
    expect(message.text).toContain(consoleUrl(invited.acceptPath));

    for (const who of [t.ownerId, t.admin.user.id, t.member.user.id]) {
      expect(await refusal(() => callerFor(who).admin.outbox({ limit: 10 }))).toMatchObject({ code: "FORBIDDEN" });
      expect(await refusal(() => callerFor(who).admin.outboxMessage({ mailId: stored.id }))).toMatchObject({ code: "FORBIDDEN" });
    }
    expect(await refusal(() => admin.admin.outboxMessage({ mailId: "no-such-mail" }))).toMatchObject({ code: "NOT_FOUND", message: "Mail was not found" });
  });

  it("refuses an SMTP_URL that is not smtp:// or smtps:// without echoing it", async () => {
    const { mailEnv } = await import("@/server/env");
    expect(() => mailEnv({ SMTP_URL: "http://user:hunter2@mail.test" })).toThrow(/SMTP_URL must be an smtp:\/\/ or smtps:\/\/ URL/);
    expect(() => mailEnv({ SMTP_URL: "http://user:hunter2@mail.test" })).not.toThrow(/hunter2/);
    expect(mailEnv({}).MAIL_FROM).toBe("Enclave <no-reply@localhost>");
  });
});
