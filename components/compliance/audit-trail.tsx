"use client";
import Link from "next/link";
import { toast } from "sonner";
import { formatDateTime } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api } from "../trpc";
import { Badge, Card, Table, Td } from "../ui/layout";
import { Button } from "../ui/button";
import { EmptyState, ErrorState, LoadingState, QueryView } from "../ui/states";

// The residency policy and the audit trail of the compliance page (kept from its first version).

export function ResidencyPolicies() {
  const org = useCurrentOrg();
  const policies = api.compliance.residencyPolicies.useQuery({ orgId: org.id });
  return (
    <Card
      title={
        <span className="flex items-center gap-3">
          Residency policy
          <Link className="ml-auto text-sm font-medium text-brand-700 underline-offset-2 hover:underline" href={`/o/${org.slug}/residency`}>
            Edit policies
          </Link>
        </span>
      }
    >
      <QueryView query={policies}>
        {(list) =>
          list.length === 0 ? (
            <EmptyState title="No residency policy">Every region is allowed for every data class but RESTRICTED, which is refused everywhere until a policy for it exists.</EmptyState>
          ) : (
            <Table head={["Data class", "Jurisdictions", "Required certifications", "Extraterritorial exposure"]} caption="Residency policy">
              {list.map((p) => (
                <tr key={p.id}>
                  <Td className="font-medium">{p.dataClassification}</Td>
                  <Td>{p.allowedJurisdictions.length ? p.allowedJurisdictions.join(", ") : "any"}</Td>
                  <Td>{p.requiredCertifications.length ? p.requiredCertifications.map((c) => <Badge key={c} tone="info">{c}</Badge>) : "none"}</Td>
                  <Td>{p.allowExtraterritorial ? <Badge tone="warn">Allowed</Badge> : <Badge tone="good">Refused</Badge>}</Td>
                </tr>
              ))}
            </Table>
          )
        }
      </QueryView>
    </Card>
  );
}

export function AuditTrail() {
  const org = useCurrentOrg();
  const trail = api.compliance.auditTrail.useInfiniteQuery({ orgId: org.id, limit: 25 }, { getNextPageParam: (last) => last.nextCursor ?? undefined });
  const verification = api.compliance.verifyAuditTrail.useQuery({ orgId: org.id }, { enabled: false });
  async function verify() {
    const result = await verification.refetch();
    if (result.data?.ok) toast.success(`Audit trail intact: ${result.data.events} events verified`);
    else if (result.data) toast.error(`Audit trail broken at event #${result.data.brokenAtSeq}: ${result.data.reason}`);
    else toast.error(result.error?.message ?? "Verification failed");
  }
  const v = verification.data;
  return (
    <Card
      title={
        <span className="flex items-center gap-3">
          Audit trail
          {v && (v.ok ? <Badge tone="good">Verified: {v.events} events intact</Badge> : <Badge tone="bad">Broken at #{v.brokenAtSeq}: {v.reason}</Badge>)}
          <Button variant="secondary" className="ml-auto" loading={verification.isFetching} onClick={verify}>Verify integrity</Button>
        </span>
      }
    >
      {trail.isLoading ? (
        <LoadingState />
      ) : trail.error ? (
        <ErrorState error={trail.error} onRetry={() => trail.refetch()} />
      ) : (
        <>
          <Table head={["#", "When", "Who", "Action", "Target", "Change", "Hash"]} caption="Audit trail">
            {trail.data?.pages.flatMap((p) => p.items).map((e) => (
              <tr key={e.id}>
                <Td className="tabular-nums text-slate-500">{e.seq}</Td>
                <Td className="text-slate-600">{formatDateTime(e.createdAt)}</Td>
                <Td>{e.actorLabel}{e.ip && <span className="block text-xs text-slate-500">{e.ip}</span>}</Td>
                <Td><code className="text-xs">{e.action}</code></Td>
                <Td className="text-xs">{e.targetType}</Td>
                <Td className="max-w-xs whitespace-normal text-xs text-slate-600">
                  {e.before != null && <span className="block">before: {JSON.stringify(e.before)}</span>}
                  {e.after != null && <span className="block">after: {JSON.stringify(e.after)}</span>}
                </Td>
                <Td><code className="text-xs text-slate-500" title={e.hash}>{e.hash.slice(0, 10)}…</code></Td>
              </tr>
            ))}
          </Table>
          {trail.hasNextPage && (
            <Button variant="secondary" className="mt-3" loading={trail.isFetchingNextPage} onClick={() => trail.fetchNextPage()}>Load older events</Button>
          )}
        </>
      )}
    </Card>
  );
}
