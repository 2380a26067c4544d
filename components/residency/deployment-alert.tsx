"use client";
/** On a deployment's page: a visible alert when it no longer complies with its data class's residency policy (docs/residency.md). */
import Link from "next/link";
import { useCurrentOrg } from "../shell/org-context";
import { api } from "../trpc";
import { CLASS_LABELS } from "./labels";

export function DeploymentResidencyAlert({ deploymentId }: { deploymentId: string }) {
  const org = useCurrentOrg();
  const compliance = api.residency.compliance.useQuery({ orgId: org.id }, { refetchInterval: 30_000 });
  const c = compliance.data?.find((d) => d.deploymentId === deploymentId);
  if (!c || c.status === "compliant") return null;
  return (
    <div role="alert" data-testid="residency-alert" className="rounded-lg border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-950">
      <p className="font-semibold">
        This deployment does not comply with your residency policy for {CLASS_LABELS[c.dataClassification].toLowerCase()} data: the gateway refuses {CLASS_LABELS[c.dataClassification].toLowerCase()} requests to it.
      </p>
      <ul className="mt-1 list-disc pl-5">
        {c.reasons.map((r) => (
          <li key={r}>{r}</li>
        ))}
      </ul>
      <Link href={`/o/${org.slug}/residency#policy-${c.dataClassification}`} className="mt-2 inline-block font-medium text-brand-700 underline">
        {c.policy === "none" ? "Set a residency policy" : "See the residency policy"}
      </Link>
    </div>
  );
}
