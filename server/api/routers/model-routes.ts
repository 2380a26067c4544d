import { z } from "zod";
import { modelRouteCreateInput, modelRouteUpdateInput } from "../../../lib/model-routes";
import { createModelRoute, deleteModelRoute, listModelRoutes, updateModelRoute } from "../../services/model-routes";
import { modelRouteDeleted, modelRouteList, modelRouteOutput } from "../outputs/model-routes";
import { id } from "../schemas";
import { orgProcedure, router } from "../trpc";

// docs/routes.md. Any member reads; owners and admins (and `manage` keys) change them. `ModelRoute`
// in code (the gateway's `Route` is one deployment's entry); "route" to users.
const tags = ["Routes"];
const target = z.object({ modelRouteId: id("modelRouteId") });
const at = (path: string) => `/orgs/{orgId}/routes${path}` as const;
const propagation = "Effective on every gateway process within a second; audit-logged with the route before and after.";

export const modelRoutesRouter = router({
  list: orgProcedure
    .meta({ openapi: { method: "GET", path: at(""), tags, summary: "List routes", description: "By name, each with its members in preference order and, per data class, whether the gateway may send such a request to each member and why not." } })
    .output(modelRouteList)
    .query(({ ctx }) => listModelRoutes(ctx.org.id)),

  create: orgProcedure
    .requires("ADMIN")
    .meta({
      openapi: {
        method: "POST",
        path: at(""),
        tags,
        summary: "Create a route",
        description: `One model name served by several of the organisation's live deployments. Its name may not be a deployment's. ${propagation}`,
      },
    })
    .input(modelRouteCreateInput)
    .output(modelRouteOutput)
    .mutation(({ ctx, input }) => createModelRoute(ctx.org.id, ctx.actor, input)),

  update: orgProcedure
    .requires("ADMIN")
    .meta({
      openapi: {
        method: "PATCH",
        path: at("/{modelRouteId}"),
        tags,
        summary: "Change a route's mode, default data class, saturation limit or members",
        description: `The name stays (programs call it). \`members\`, when sent, replaces the list. Saving it unchanged writes nothing. ${propagation}`,
      },
    })
    .input(target.extend(modelRouteUpdateInput.shape))
    .output(modelRouteOutput)
    .mutation(({ ctx, input: { modelRouteId, ...changes } }) => updateModelRoute(ctx.org.id, ctx.actor, modelRouteId, changes)),

  remove: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "DELETE", path: at("/{modelRouteId}"), tags, summary: "Delete a route", description: `Its deployments keep serving under their own names. ${propagation}` } })
    .input(target)
    .output(modelRouteDeleted)
    .mutation(({ ctx, input }) => deleteModelRoute(ctx.org.id, ctx.actor, input.modelRouteId)),
});
