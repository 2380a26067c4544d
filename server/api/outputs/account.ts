import { z } from "zod";
import { orgRole, orgSummary } from "./organization";

const orgRef = z.object({ id: z.string(), slug: z.string(), name: z.string() });

export const signedUpOutput = z.object({ userId: z.string(), org: orgRef });
export const meOutput = z.object({
  user: z.object({ id: z.string(), email: z.string(), name: z.string(), platformAdmin: z.boolean() }),
  memberships: z.array(z.object({ role: orgRole, org: orgSummary })),
});
export const organizationCreated = orgRef;
export const invitationAnswered = orgRef.meta({ description: "The organisation the invitation was for" });
