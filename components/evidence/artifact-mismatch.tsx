"use client";

/**
 * On a deployment's page: the driver refused the model's file because its sha256 is not the
 * catalog's (workers/drivers/artifact.ts). Said plainly, with both digests as the driver gave them.
 */
export function ArtifactMismatchAlert({ conditions }: { conditions: { type: string; status: string; reason: string; message: string }[] }) {
  const mismatch = conditions.find((c) => c.type === "ReplicaFailure" && c.status === "True" && c.reason === "ArtifactMismatch");
  if (!mismatch) return null;
  return (
    <div role="alert" data-testid="artifact-mismatch" className="rounded-lg border border-red-300 bg-red-50 px-4 py-3 text-sm text-red-900">
      <p className="font-semibold">The model&apos;s file was refused: its sha256 is not the one in the catalog.</p>
      <p className="mt-1">
        No replica was started with it. The file on the cluster may be corrupt, replaced or another version; a platform operator must put the catalog&apos;s
        file in place (or correct the catalog) before a retry can succeed.
      </p>
      <p className="mt-2 whitespace-pre-wrap break-all font-mono text-xs">{mismatch.message}</p>
    </div>
  );
}
