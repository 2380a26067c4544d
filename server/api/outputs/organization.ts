import { z } from "zod";
import { dateTime, page } from "./common";
import { orgStatus, spend } from "./tenant";

export const orgRole = z.enum(["OWNER", "ADMIN", "MEMBER", "VIEWER"]);
export const orgSummary = z.object({ id: z.string(), slug: z.string(), name: z.string(), status: orgStatus });

export const overviewOutput = z.object({
  org: orgSummary,
  role: orgRole.meta({ description: "The caller's role (an API key acts as Admin with manage, Viewer with read)" }),
  members: z.number().int(),
  deployments: z.number().int(),
  runningDeployments: z.number().int(),
  activeApiKeys: z.number().int(),
  quotaGpus: z.number().int(),
  pendingQuotaRequests: z.number().int(),
  last30Days: z.object({ requests: z.number().int(), tokens: z.number().int(), spend }),
});

export const renamedOutput = z.object({ id: z.string(), slug: z.string(), name: z.string() });

export const member = z.object({
  id: z.string().meta({ description: "The membership id" }),
  role: orgRole,
  createdAt: dateTime,
  user: z.object({ id: z.string(), name: z.string(), email: z.string() }),
});

export const pendingInvitation = z.object({
  id: z.string(),
  email: z.string(),
  role: orgRole,
  createdAt: dateTime,
  expiresAt: dateTime,
  invitedBy: z.object({ name: z.string() }),
});

export const membersOutput = page(member).extend({ invitations: z.array(pendingInvitation).meta({ description: "Pending invitations (all of them, on every page)" }) });

export const invitationCreated = z.object({
  id: z.string(),
  email: z.string(),
  role: orgRole,
  expiresAt: dateTime,
  token: z.string().meta({ description: "The invitation's secret, shown once: only its hash is stored" }),
  acceptPath: z.string().meta({ description: "The console path the invitee opens to accept (holds the token)" }),
});

export const invitationRevoked = z.object({ id: z.string(), status: z.literal("REVOKED") });
export const membershipChanged = z.object({ id: z.string(), role: orgRole, userId: z.string() });
export const membershipRemoved = z.object({ id: z.string(), removed: z.literal(true) });
