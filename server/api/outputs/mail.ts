/** Output schemas of the admin outbox (routers/admin.ts, services/mail.ts). */
import { z } from "zod";
import { MailKind, MailStatus } from "../../generated/prisma/enums";
import { dateTime, page } from "./common";

export const mailKind = z.enum(Object.values(MailKind) as [MailKind, ...MailKind[]]);
export const mailStatus = z.enum(Object.values(MailStatus) as [MailStatus, ...MailStatus[]]);

const mailSummary = z.object({
  id: z.string(),
  kind: mailKind,
  to: z.string(),
  subject: z.string(),
  status: mailStatus.meta({ description: "QUEUED (to be sent), SENT, FAILED (given up), OUTBOX_ONLY (no SMTP_URL: kept here, never sent)" }),
  attempts: z.number().int(),
  lastError: z.string().nullable().meta({ description: "Why the last attempt failed, in words (never the SMTP credentials)" }),
  sentAt: dateTime.nullable(),
  createdAt: dateTime,
  org: z.object({ id: z.string(), slug: z.string(), name: z.string() }).nullable(),
});

export const outboxOutput = page(mailSummary);
export const mailMessageOutput = mailSummary.extend({
  text: z.string().meta({ description: "The plain-text body; an invitation's accept link is cut out once the mail is sent" }),
  html: z.string().nullable(),
});
