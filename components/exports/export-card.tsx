"use client";
/**
 * "Export everything" (docs/export-format.md): owners and admins write one signed archive of the
 * organisation and download it; the list shows earlier exports with their SHA-256, which
 * `npm run audit:verify` checks offline.
 */
import { toast } from "sonner";
import { formatDateTime, formatNumber } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api } from "../trpc";
import { Button } from "../ui/button";
import { CopyButton } from "../ui/copy-button";
import { Card, Table, Td } from "../ui/layout";
import { EmptyState, QueryView } from "../ui/states";

const size = (bytes: number) => (bytes < 1024 * 1024 ? `${formatNumber(Math.ceil(bytes / 1024))} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`);

export function ExportCard() {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const exports = api.exports.list.useQuery({ orgId: org.id });
  const create = api.exports.create.useMutation({
    onMutate: () => toast.loading("Exporting: configuration, usage, traces and the audit log…", { id: "export" }),
    onSuccess: async (e) => {
      toast.success(`Export ready: ${size(e.bytes)}`, { id: "export", description: `SHA-256 ${e.sha256.slice(0, 16)}…` });
      await utils.exports.list.invalidate({ orgId: org.id });
    },
    onError: (e) => toast.error(e.message, { id: "export" }),
  });
  return (
    <Card title="Export everything">
      <div className="space-y-4">
        <div className="flex flex-col gap-3 sm:flex-row sm:items-center sm:justify-between">
          <p className="text-sm text-slate-600">
            One signed archive another Enclave imports: members and roles, policies, deployments, API-key metadata (never secrets), usage as FOCUS CSV, traces as
            OTLP JSON, and the audit log with its checkpoints and proofs. Check it offline with <code className="rounded bg-slate-100 px-1">npm run audit:verify</code>.
          </p>
          <Button onClick={() => create.mutate({ orgId: org.id })} loading={create.isPending} aria-describedby="export-status">
            {create.isPending ? "Exporting…" : "Export everything"}
          </Button>
        </div>
        <p id="export-status" role="status" aria-live="polite" className="sr-only">
          {create.isPending ? "Export in progress" : create.isSuccess ? "Export ready" : ""}
        </p>
        <QueryView query={exports}>
          {({ items }) =>
            items.length === 0 ? (
              <EmptyState title="No export yet">The archives you export are listed here, to download again.</EmptyState>
            ) : (
              <Table head={["Created", "By", "Size", "SHA-256", ""]} caption="Exports">
                {items.map((e) => (
                  <tr key={e.id}>
                    <Td>{formatDateTime(e.createdAt)}</Td>
                    <Td className="text-slate-600">{e.createdBy}</Td>
                    <Td>{size(e.bytes)}</Td>
                    <Td>
                      <span className="font-mono text-xs" title={e.sha256}>{e.sha256.slice(0, 16)}…</span> <CopyButton text={e.sha256} label="Copy SHA-256" />
                    </Td>
                    <Td className="text-right">
                      <a className="text-sm font-medium text-blue-700 underline" href={e.downloadPath} download={e.fileName}>
                        Download
                      </a>
                    </Td>
                  </tr>
                ))}
              </Table>
            )
          }
        </QueryView>
      </div>
    </Card>
  );
}
