import { z } from "zod";
import {
  effectiveGuardrails,
  getGuardrailDefaults,
  guardrailDefaultsInput,
  guardrailOverrideInput,
  listGuardrailOverrides,
  removeGuardrailOverride,
  resetGuardrailDefaults,
  setGuardrailDefaults,
  setGuardrailOverride,
} from "../../services/guardrails";
import { guardrailDefaults, guardrailOverride, guardrailOverrideRemoved, guardrailOverridesOutput, guardrailsEffective } from "../outputs/guardrails";
import { id } from "../schemas";
import { orgProcedure, router } from "../trpc";

// docs/guardrails.md, "Policies". Any member reads them; owners and admins (and `manage` keys) change them.
// Every change reaches every gateway process within a second (NOTIFY enclave_guardrails).
const tags = ["Guardrails"];
const deploymentTarget = z.object({ deploymentId: id("deploymentId") });
const apiKeyTarget = z.object({ apiKeyId: id("apiKeyId") });
const propagation = "Effective on every gateway process within a second.";

export const guardrailsRouter = router({
  get: orgProcedure
    .meta({
      openapi: {
        method: "GET",
        path: "/orgs/{orgId}/guardrails",
        tags,
        summary: "Read the organisation's guardrail defaults",
        description: "The action of each rule (check × stage), the personal-data types checked, the groundedness judge and threshold. An organisation that set none gets the built-in defaults (`configured: false`).",
      },
    })
    .output(guardrailDefaults)
    .query(({ ctx }) => getGuardrailDefaults(ctx.org.id)),

  set: orgProcedure
    .requires("ADMIN")
    .meta({
      openapi: {
        method: "PUT",
        path: "/orgs/{orgId}/guardrails",
        tags,
        summary: "Set the organisation's guardrail defaults",
        description: `Replaces them: a rule left out of \`rules\` gets its built-in default; null types, judge or threshold: every type, no judge, 0.7. ${propagation}`,
      },
    })
    .input(guardrailDefaultsInput)
    .output(guardrailDefaults)
    .mutation(({ ctx, input }) => setGuardrailDefaults(ctx.org.id, ctx.actor, input)),

  reset: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "DELETE", path: "/orgs/{orgId}/guardrails", tags, summary: "Return to the built-in guardrail defaults", description: `Overrides of deployments and keys stay. ${propagation}` } })
    .output(guardrailDefaults)
    .mutation(({ ctx }) => resetGuardrailDefaults(ctx.org.id, ctx.actor)),

  overrides: orgProcedure
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/guardrails/overrides", tags, summary: "List the guardrail overrides of deployments and keys", description: "Each with the rules it sets and the effective result." } })
    .output(guardrailOverridesOutput)
    .query(({ ctx }) => listGuardrailOverrides(ctx.org.id)),

  effective: orgProcedure
    .meta({
      openapi: {
        method: "GET",
        path: "/orgs/{orgId}/guardrails/effective",
        tags,
        summary: "The guardrails a request gets",
        description: "Through a deployment, with a key (both optional): each rule's action and which level decided it (organisation < deployment < key), as the gateways apply them.",
      },
    })
    .input(z.object({ deploymentId: id("deploymentId").optional(), apiKeyId: id("apiKeyId").optional() }))
    .output(guardrailsEffective)
    .query(({ ctx, input }) => effectiveGuardrails(ctx.org.id, input)),

  setDeploymentOverride: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "PUT", path: "/orgs/{orgId}/deployments/{deploymentId}/guardrails", tags, summary: "Override guardrail rules for a deployment", description: `Only the rules given; the others inherit the organisation's. ${propagation}` } })
    .input(deploymentTarget.extend(guardrailOverrideInput.shape))
    .output(guardrailOverride)
    .mutation(({ ctx, input }) => setGuardrailOverride(ctx.org.id, ctx.actor, { kind: "deployment", id: input.deploymentId }, input)),

  removeDeploymentOverride: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "DELETE", path: "/orgs/{orgId}/deployments/{deploymentId}/guardrails", tags, summary: "Remove a deployment's guardrail override", description: `It inherits every rule again. ${propagation}` } })
    .input(deploymentTarget)
    .output(guardrailOverrideRemoved)
    .mutation(({ ctx, input }) => removeGuardrailOverride(ctx.org.id, ctx.actor, { kind: "deployment", id: input.deploymentId })),

  setApiKeyOverride: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "PUT", path: "/orgs/{orgId}/api-keys/{apiKeyId}/guardrails", tags, summary: "Override guardrail rules for an API key", description: `Only the rules given; the others inherit (the deployment's, then the organisation's). ${propagation}` } })
    .input(apiKeyTarget.extend(guardrailOverrideInput.shape))
    .output(guardrailOverride)
    .mutation(({ ctx, input }) => setGuardrailOverride(ctx.org.id, ctx.actor, { kind: "apiKey", id: input.apiKeyId }, input)),

  removeApiKeyOverride: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "DELETE", path: "/orgs/{orgId}/api-keys/{apiKeyId}/guardrails", tags, summary: "Remove an API key's guardrail override", description: `It inherits every rule again. ${propagation}` } })
    .input(apiKeyTarget)
    .output(guardrailOverrideRemoved)
    .mutation(({ ctx, input }) => removeGuardrailOverride(ctx.org.id, ctx.actor, { kind: "apiKey", id: input.apiKeyId })),
});
