"use client";
import { formatDateTime } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api } from "../trpc";
import { Badge, PageHeader, Table, Td } from "../ui/layout";
import { EmptyState, QueryView } from "../ui/states";

export function ApiKeysPage() {
  const org = useCurrentOrg();
  const keys = api.apiKeys.list.useQuery({ orgId: org.id });
  return (
    <>
      <PageHeader title="API keys" description="Keys your programs use to call your deployments through the OpenAI-compatible gateway. Only a hash of each secret is stored." />
      <QueryView query={keys}>
        {(list) =>
          list.length === 0 ? (
            <EmptyState title="No API keys yet">Keys are created here once a deployment is running.</EmptyState>
          ) : (
            <Table head={["Name", "Key", "Scopes", "Status", "Last used", "Created"]} caption="API keys">
              {list.map((k) => {
                const expired = k.expiresAt && new Date(k.expiresAt) < new Date();
                return (
                  <tr key={k.id}>
                    <Td className="font-medium">{k.name}</Td>
                    <Td><code className="text-xs">{k.prefix}…</code></Td>
                    <Td>{k.scopes.join(", ")}</Td>
                    <Td>{k.revokedAt ? <Badge tone="bad">Revoked</Badge> : expired ? <Badge tone="warn">Expired</Badge> : <Badge tone="good">Active</Badge>}</Td>
                    <Td className="text-slate-600">{k.lastUsedAt ? formatDateTime(k.lastUsedAt) : "Never"}</Td>
                    <Td className="text-slate-600">{formatDateTime(k.createdAt)} by {k.createdBy.name}</Td>
                  </tr>
                );
              })}
            </Table>
          )
        }
      </QueryView>
    </>
  );
}
