/**
 * The verifiable audit log over tRPC and REST (docs/audit-log.md): signed checkpoints, inclusion
 * and consistency proofs, the installation's verifier key. An organisation's procedures serve its
 * own chain; the platform chain's equivalents are under /admin/audit for platform administrators.
 */
import { z } from "zod";
import { auditKeyName, verifierKey } from "../../audit/keys";
import { chainOf, checkpointStatus, listCheckpoints, PLATFORM_CHAIN, proveConsistency, proveEvent, requestCheckpoint } from "../../audit/log";
import { auditEnv } from "../../env";
import { badRequest } from "../../errors";
import { checkpointOutput, checkpointPageOutput, checkpointStatusOutput, consistencyProofOutput, inclusionProofOutput, verifierKeyOutput } from "../outputs/audit";
import { adminProcedure, authenticatedProcedure, orgProcedure, router } from "../trpc";

const noInput = z.object({}).optional();
const tags = ["Audit log"];
const adminTags = ["Admin: audit log"];

const size = (name: string, description: string) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(1, `${name} must be at least 1`)
    .max(2_147_483_647, `${name} is too large`)
    .meta({ description });

const seqInput = z.object({
  seq: size("seq", "The event's sequence number in its chain (1 = first)"),
  treeSize: size("treeSize", "Prove under this tree size (default: the latest checkpoint's); at most the latest checkpoint's").optional(),
});
const consistencyInput = z.object({
  size1: size("size1", "The earlier tree size"),
  size2: size("size2", "The later tree size, at most the latest checkpoint's"),
});
const checkpointsInput = z.object({
  cursor: z
    .string()
    .regex(/^[1-9][0-9]{0,9}$/, "cursor is the nextCursor of the previous page (a tree size)")
    .optional()
    .meta({ description: "The nextCursor of the previous page; omit for the newest" }),
  limit: z.coerce.number({ error: "limit must be a number" }).int("limit must be a whole number").min(1, "limit must be at least 1").max(200, "limit must be at most 200").default(50),
});

async function checkpointPage(chain: string, input: z.infer<typeof checkpointsInput>) {
  const page = await listCheckpoints(chain, { limit: input.limit, beforeSize: input.cursor ? Number(input.cursor) : undefined });
  return { items: page.items, nextCursor: page.nextCursor === null ? null : String(page.nextCursor) };
}

function checkSizes(input: { size1: number; size2: number }) {
  if (input.size2 < input.size1) throw badRequest(`size2 (${input.size2}) must be at least size1 (${input.size1})`, "size2");
}

export const auditRouter = router({
  // Any member (and a read key): a checkpoint holds no event content.
  checkpoint: orgProcedure
    .meta({
      openapi: {
        method: "GET",
        path: "/orgs/{orgId}/audit/checkpoint",
        tags,
        summary: "The latest signed checkpoint of the organisation's audit log",
        description: "Tree size, root and time signed by the installation key (C2SP signed note), the last checkpoint a witness cosigned, and the verifier key to check them with.",
      },
    })
    .output(checkpointStatusOutput)
    .query(({ ctx }) => checkpointStatus(chainOf(ctx.org.id))),

  checkpoints: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/audit/checkpoints", tags, summary: "List the signed checkpoints of the organisation's audit log, newest first" } })
    .input(checkpointsInput)
    .output(checkpointPageOutput)
    .query(({ ctx, input }) => checkpointPage(chainOf(ctx.org.id), input)),

  signCheckpoint: orgProcedure
    .requires("ADMIN")
    .meta({
      openapi: {
        method: "POST",
        path: "/orgs/{orgId}/audit/checkpoints",
        tags,
        summary: "Sign a checkpoint now",
        description: "Records the request as an audit event (audit.checkpoint.requested), then signs the log's new size and sends it to the witness when one is configured. The periodic signing adds no event.",
      },
    })
    .output(checkpointOutput)
    .mutation(({ ctx }) => requestCheckpoint(ctx.org.id, ctx.actor)),

  inclusionProof: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/audit-events/{seq}/proof", tags, summary: "Inclusion proof of an audit event under a signed checkpoint" } })
    .input(seqInput)
    .output(inclusionProofOutput)
    .query(({ ctx, input }) => proveEvent(chainOf(ctx.org.id), input.seq, input.treeSize)),

  consistencyProof: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/audit/consistency", tags, summary: "Consistency proof between two sizes of the organisation's audit log" } })
    .input(consistencyInput)
    .output(consistencyProofOutput)
    .query(({ ctx, input }) => {
      checkSizes(input);
      return proveConsistency(chainOf(ctx.org.id), input.size1, input.size2);
    }),

  verifierKey: authenticatedProcedure
    .meta({ openapi: { method: "GET", path: "/audit/verifier-key", tags, summary: "The installation's audit verifier key (C2SP vkey), to check checkpoints offline" } })
    .input(noInput)
    .output(verifierKeyOutput)
    .query(async () => {
      let witnessKey: string | null = null;
      try {
        witnessKey = auditEnv().AUDIT_WITNESS_KEY ?? null;
      } catch {
        witnessKey = null;
      }
      return { keyName: auditKeyName(), verifierKey: await verifierKey(), witnessKey };
    }),

  platformCheckpoint: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/audit/checkpoint", tags: adminTags, summary: "The latest signed checkpoint of the platform's audit log" } })
    .input(noInput)
    .output(checkpointStatusOutput)
    .query(() => checkpointStatus(PLATFORM_CHAIN)),

  platformCheckpoints: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/audit/checkpoints", tags: adminTags, summary: "List the signed checkpoints of the platform's audit log, newest first" } })
    .input(checkpointsInput)
    .output(checkpointPageOutput)
    .query(({ input }) => checkpointPage(PLATFORM_CHAIN, input)),

  signPlatformCheckpoint: adminProcedure
    .meta({ openapi: { method: "POST", path: "/admin/audit/checkpoints", tags: adminTags, summary: "Sign a checkpoint of the platform's audit log now" } })
    .input(noInput)
    .output(checkpointOutput)
    .mutation(({ ctx }) => requestCheckpoint(null, ctx.actor)),

  platformInclusionProof: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/audit-events/{seq}/proof", tags: adminTags, summary: "Inclusion proof of a platform audit event" } })
    .input(seqInput)
    .output(inclusionProofOutput)
    .query(({ input }) => proveEvent(PLATFORM_CHAIN, input.seq, input.treeSize)),

  platformConsistencyProof: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/audit/consistency", tags: adminTags, summary: "Consistency proof between two sizes of the platform's audit log" } })
    .input(consistencyInput)
    .output(consistencyProofOutput)
    .query(({ input }) => {
      checkSizes(input);
      return proveConsistency(PLATFORM_CHAIN, input.size1, input.size2);
    }),
});
