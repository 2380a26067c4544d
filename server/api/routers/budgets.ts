import { budgetInput, webhookInput } from "../../../lib/budgets";
import { getBudget, removeBudget, setBudget } from "../../services/budgets";
import { getWebhook, listDeliveries, removeWebhook, rotateWebhookSecret, sendTestEvent, setWebhook } from "../../services/webhooks";
import { budgetOutput, budgetRemoved, budgetSettings, webhookDeliveriesOutput, webhookDelivery, webhookOutput, webhookRemoved, webhookSaved } from "../outputs/budgets";
import { pageInput, pageOf } from "../outputs/common";
import { orgProcedure, router } from "../trpc";

// docs/budgets.md. Any member sees the budget and its alerts; owners and admins (and `manage` keys) change it.
const budgetTags = ["Budget"];

export const budgetsRouter = router({
  get: orgProcedure
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/budget", tags: budgetTags, summary: "Read the monthly budget", description: "The budget, this month's spend against it (token cost + GPU time, UTC month) and this month's alerts." } })
    .output(budgetOutput)
    .query(({ ctx }) => getBudget(ctx.org.id)),

  set: orgProcedure
    .requires("ADMIN")
    .meta({
      openapi: {
        method: "PUT",
        path: "/orgs/{orgId}/budget",
        tags: budgetTags,
        summary: "Set the monthly budget",
        description: "Amount in euros, alert thresholds in percent, and mode: SOFT alerts only; HARD also makes every gateway refuse calls (429 organization_budget_exceeded) once it is spent.",
      },
    })
    .input(budgetInput)
    .output(budgetSettings)
    .mutation(({ ctx, input }) => setBudget(ctx.org.id, ctx.actor, input)),

  remove: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "DELETE", path: "/orgs/{orgId}/budget", tags: budgetTags, summary: "Remove the monthly budget" } })
    .output(budgetRemoved)
    .mutation(({ ctx }) => removeBudget(ctx.org.id, ctx.actor)),
});

const webhookTags = ["Webhook"];

export const webhooksRouter = router({
  get: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/webhook", tags: webhookTags, summary: "Read the webhook", description: "Null when the organisation has none. Never the secret." } })
    .output(webhookOutput)
    .query(({ ctx }) => getWebhook(ctx.org.id)),

  set: orgProcedure
    .requires("ADMIN")
    .meta({
      openapi: {
        method: "PUT",
        path: "/orgs/{orgId}/webhook",
        tags: webhookTags,
        summary: "Create or change the webhook",
        description: "Creating it answers its signing secret, once. Events are POSTed signed with `Enclave-Signature: t=<unix>,v1=<HMAC-SHA256>` (docs/budgets.md).",
      },
    })
    .input(webhookInput)
    .output(webhookSaved)
    .mutation(({ ctx, input }) => setWebhook(ctx.org.id, ctx.actor, input)),

  rotateSecret: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "POST", path: "/orgs/{orgId}/webhook/rotate-secret", tags: webhookTags, summary: "Rotate the webhook's signing secret", description: "Answers the new secret, once; the previous one stops verifying at once." } })
    .output(webhookSaved)
    .mutation(({ ctx }) => rotateWebhookSecret(ctx.org.id, ctx.actor)),

  remove: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "DELETE", path: "/orgs/{orgId}/webhook", tags: webhookTags, summary: "Remove the webhook", description: "Its pending deliveries go with it." } })
    .output(webhookRemoved)
    .mutation(({ ctx }) => removeWebhook(ctx.org.id, ctx.actor)),

  sendTest: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "POST", path: "/orgs/{orgId}/webhook/test", tags: webhookTags, summary: "Send a test event", description: "Queues a signed `webhook.test` event, delivered (and retried) like any other." } })
    .output(webhookDelivery)
    .mutation(({ ctx }) => sendTestEvent(ctx.org.id, ctx.actor)),

  deliveries: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/webhook/deliveries", tags: webhookTags, summary: "List webhook deliveries, newest first", description: "Each event with its status and every attempt (status code or error, duration)." } })
    .input(pageInput)
    .output(webhookDeliveriesOutput)
    .query(async ({ ctx, input }) => pageOf(await listDeliveries(ctx.org.id), input)),
});
