import { z } from "zod";
import { db } from "../../db";
import { signUp } from "../../services/accounts";
import { pendingInvitationsFor, respondToInvitation } from "../../services/members";
import { createOrganization } from "../../services/organizations";
import { userActor } from "../context";
import { email, id, organizationName, password, personName } from "../schemas";
import { protectedProcedure, publicProcedure, router } from "../trpc";

export const accountRouter = router({
  /** Creates a user and their first organisation; the client then signs in with the same credentials. */
  signUp: publicProcedure
    .input(z.object({ name: personName, email, password, organizationName }))
    .mutation(({ ctx, input }) => signUp(input, { ip: ctx.ip, requestId: ctx.requestId })),

  me: protectedProcedure.query(async ({ ctx }) => {
    const [memberships, invitations] = await Promise.all([
      db.membership.findMany({
        where: { userId: ctx.user.id },
        orderBy: { createdAt: "asc" },
        select: { role: true, org: { select: { id: true, slug: true, name: true, status: true } } },
      }),
      pendingInvitationsFor(ctx.user.email),
    ]);
    return { user: ctx.user, memberships, invitations };
  }),

  createOrganization: protectedProcedure
    .input(z.object({ name: organizationName }))
    .mutation(({ ctx, input }) => createOrganization({ ...userActor(ctx, ctx.user), id: ctx.user.id }, input).then((o) => ({ id: o.id, slug: o.slug, name: o.name }))),

  respondToInvitation: protectedProcedure
    .input(z.object({ invitationId: id("invitationId"), accept: z.boolean() }))
    .mutation(({ ctx, input }) => respondToInvitation({ ...userActor(ctx, ctx.user), id: ctx.user.id }, ctx.user, input)),
});
