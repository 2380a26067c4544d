/**
 * Mail delivery (server/services/mail.ts, docs/email.md): every two seconds the workers claim the
 * queued mail that is due (`FOR UPDATE SKIP LOCKED` and a lease, so several workers processes never
 * send one twice at once) and send it through SMTP; a failure is retried with exponential backoff.
 * Without SMTP_URL there is nothing to send: mail stays in the admin outbox.
 */
import { logger } from "../../server/logger";
import { deliverDueMail, MAIL_DELIVERY_DEFAULTS, type MailDeliveryOptions } from "../../server/services/mail";
import { startLoop } from "../loop";

export const MAIL_POLL_MS = Number(process.env.ENCLAVE_MAIL_POLL_MS ?? 2_000);

export function registerMailDelivery(options: MailDeliveryOptions & { pollMs?: number } = {}): () => Promise<void> {
  const { pollMs = MAIL_POLL_MS, ...delivery } = options;
  const batchSize = delivery.batchSize ?? MAIL_DELIVERY_DEFAULTS.batchSize;
  return startLoop(
    "mail delivery",
    async () => {
      // A full batch may mean more are due: go on until a batch comes back short.
      for (;;) {
        const result = await deliverDueMail(delivery);
        if (result.attempted > 0) logger.info("mail delivered", result);
        if (result.attempted < batchSize) break;
      }
    },
    pollMs,
  );
}
