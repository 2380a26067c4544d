/**
 * Webhook deliveries (server/services/webhooks.ts, docs/budgets.md): a new delivery wakes the
 * workers through NOTIFY (sent in the transaction that queued it), and a poll every second picks
 * up retries as they fall due and anything a lost notification missed. Deliveries are claimed
 * with `FOR UPDATE SKIP LOCKED` and a lease, so several workers processes never send one twice at
 * once, and a crashed worker's claims are retried when their lease ends.
 */
import pg from "pg";
import { logger } from "../../server/logger";
import { WEBHOOK_CHANNEL } from "../../server/services/channels";
import { deliverDueWebhooks, DELIVERY_DEFAULTS, type DeliveryOptions } from "../../server/services/webhooks";

export const WEBHOOK_POLL_MS = Number(process.env.ENCLAVE_WEBHOOK_POLL_MS ?? 1_000);

export async function startWebhookDelivery(options: { connectionString: string; pollMs?: number } & DeliveryOptions): Promise<() => Promise<void>> {
  const { connectionString, pollMs = WEBHOOK_POLL_MS, ...delivery } = options;
  const batchSize = delivery.batchSize ?? DELIVERY_DEFAULTS.batchSize;
  let stopped = false;
  let running: Promise<void> | null = null;
  let again = false;

  const run = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      try {
        do {
          again = false;
          // A full batch may mean more are due: go on until a batch comes back short.
          while (!stopped && (await deliverDueWebhooks(delivery)).attempted >= batchSize);
        } while (again && !stopped);
      } catch (error) {
        logger.error("webhook delivery failed", { error });
      } finally {
        running = null;
      }
    })();
  };

  let listener: pg.Client | null = null;
  const listen = async () => {
    if (stopped) return;
    const client = new pg.Client({ connectionString, application_name: "enclave-workers-webhooks" });
    let retrying = false;
    const retry = () => {
      if (stopped || retrying) return;
      retrying = true;
      listener = null;
      client.end().catch(() => {});
      setTimeout(() => void listen().catch(() => {}), 1000).unref();
    };
    client.on("notification", () => run());
    client.on("error", retry);
    client.on("end", retry);
    try {
      await client.connect();
      await client.query(`LISTEN ${WEBHOOK_CHANNEL}`);
      listener = client;
    } catch (error) {
      retry();
      throw error;
    }
  };
  await listen().catch((error) => logger.warn("webhook listener could not connect; polling only", { error }));
  const timer = setInterval(run, pollMs);
  run();

  return async () => {
    stopped = true;
    clearInterval(timer);
    await listener?.end().catch(() => {});
    await running;
  };
}
