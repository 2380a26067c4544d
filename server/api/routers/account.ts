import { z } from "zod";
import { db } from "../../db";
import { signUp, signUpWithInvitation } from "../../services/accounts";
import { respondToInvitation } from "../../services/members";
import { createOrganization } from "../../services/organizations";
import { email, organizationName, password, personName } from "../schemas";
import { protectedProcedure, publicProcedure, router } from "../trpc";
import { invitationAnswered, meOutput, organizationCreated, signedUpOutput } from "../outputs/account";

const tags = ["Account"];

const invitationToken = z.string().trim().min(1, "token is required").max(100, "token is too long");

export const accountRouter = router({
  /** Creates a user and their first organisation; the client then signs in with the same credentials. */
  signUp: publicProcedure
    .meta({ openapi: { method: "POST", path: "/accounts", tags, summary: "Sign up", description: "Creates a person and their first organisation; sign in afterwards with the same credentials.", protect: false } })
    .output(signedUpOutput)
    .input(z.object({ name: personName, email, password, organizationName }))
    .mutation(({ ctx, input }) => signUp(input, { ip: ctx.ip, requestId: ctx.requestId })),

  // Invitations are not listed by email: only their link (token) reveals or accepts one.
  me: protectedProcedure
    .meta({ openapi: { method: "GET", path: "/me", tags, summary: "Who am I", description: "The signed-in person and their organisations (a person's session only)." } })
    .input(z.object({}).optional())
    .output(meOutput)
    .query(async ({ ctx }) => {
    const memberships = await db.membership.findMany({
      where: { userId: ctx.user.id },
      orderBy: { createdAt: "asc" },
      select: { role: true, org: { select: { id: true, slug: true, name: true, status: true } } },
    });
    return { user: ctx.user, memberships };
  }),

  createOrganization: protectedProcedure
    .meta({ openapi: { method: "POST", path: "/orgs", tags, summary: "Create an organisation", description: "The signed-in person becomes its owner." } })
    .output(organizationCreated)
    .input(z.object({ name: organizationName }))
    .mutation(({ ctx, input }) => createOrganization(ctx.actor, input).then((o) => ({ id: o.id, slug: o.slug, name: o.name }))),

  /** Accepts or declines the invitation named by the token of its link (`/invitations/<token>`). */
  respondToInvitation: protectedProcedure
    .meta({ openapi: { method: "POST", path: "/invitations/response", tags, summary: "Accept or decline an invitation", description: "Names the invitation by the token of its link." } })
    .output(invitationAnswered)
    .input(z.object({ token: invitationToken, accept: z.boolean() }))
    .mutation(({ ctx, input }) => respondToInvitation(ctx.actor, ctx.user, input)),

  /** Creates an account from an invitation's link and joins that organisation; the client then signs in. */
  signUpWithInvitation: publicProcedure
    .meta({ openapi: { method: "POST", path: "/invitations/signup", tags, summary: "Sign up through an invitation", description: "Creates a person from an invitation's link and joins that organisation.", protect: false } })
    .output(signedUpOutput)
    .input(z.object({ token: invitationToken, name: personName, email, password }))
    .mutation(({ ctx, input }) => signUpWithInvitation(input, { ip: ctx.ip, requestId: ctx.requestId })),
});
