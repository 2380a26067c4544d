/**
 * PostgreSQL NOTIFY channels, named once: the services notify in the transaction that made the
 * change (delivered on commit), the workers and the gateway listen. Payload: the changed row's id.
 * Imports nothing, so any service can use it without an import cycle.
 */

/** A deployment's desired state changed: the workers reconcile it now rather than at the next sweep. */
export const RECONCILE_CHANNEL = "enclave_reconcile";

/**
 * What the gateway caches: an API key (reload that key), a deployment's route (reload that route),
 * an organisation's guardrail policies (payload: the organisation's id; reload its defaults and overrides),
 * or an organisation's residency policies (payload: the organisation's id; reload them, re-judge its routes).
 */
export const GATEWAY_CHANNELS = { apiKeys: "enclave_api_keys", routes: "enclave_routes", guardrails: "enclave_guardrails", residency: "enclave_residency" } as const;

/** A webhook delivery is due (server/services/webhooks.ts): the workers deliver it now rather than at the next poll. */
export const WEBHOOK_CHANNEL = "enclave_webhooks";
