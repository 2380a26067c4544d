"use client";
/**
 * The admin import screen (docs/export-format.md, "Import"): upload an export archive from another
 * Enclave; it is verified first (hashes, signature, audit log) and refused with the reason when
 * anything is off. The result shows, once, the invitation links and the re-issued API keys, the
 * deployments created stopped, and what could not be mapped.
 */
import Link from "next/link";
import { useState, type FormEvent } from "react";
import { toast } from "sonner";
import { Button } from "../ui/button";
import { CopyButton } from "../ui/copy-button";
import { Field, Input } from "../ui/form";
import { Badge, Card, PageHeader, Table, Td } from "../ui/layout";
import { EmptyState } from "../ui/states";

interface ImportResult {
  organization: { id: string; slug: string; name: string };
  source: { installation: string; exportedAt: string; organization: { slug: string }; keyFromArchive: boolean };
  invitations: { email: string; role: string; acceptPath: string }[];
  apiKeys: { name: string; oldPrefix: string; newPrefix: string; key: string }[];
  deployments: { name: string; id: string; state: string; residency: string[] }[];
  routes: { name: string; id: string; members: string[] }[];
  quotaRequests: { region: string; gpuType: string; gpus: number }[];
  unmapped: { kind: string; item: string; reason: string }[];
  counts: { usageRecords: number; traces: number; auditEvents: number; importedAuditLogs: number };
}

export function AdminImportsPage() {
  const [file, setFile] = useState<File | null>(null);
  const [slug, setSlug] = useState("");
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<ImportResult | null>(null);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!file) return;
    setBusy(true);
    setError(null);
    setResult(null);
    const id = toast.loading(`Verifying and importing ${file.name}…`);
    try {
      const params = new URLSearchParams();
      if (slug.trim()) params.set("slug", slug.trim());
      if (key.trim()) params.set("key", key.trim());
      const response = await fetch(`/api/v1/admin/imports?${params}`, { method: "POST", body: file, headers: { "content-type": "application/gzip" } });
      const body = (await response.json()) as ImportResult | { error: { message: string } };
      if (!response.ok || "error" in body) {
        const message = "error" in body ? body.error.message : `The import failed (${response.status})`;
        setError(message);
        toast.error("Import refused", { id, description: message.slice(0, 200) });
        return;
      }
      setResult(body);
      toast.success(`Imported ${body.organization.name}`, { id });
    } catch {
      setError("The upload did not complete: check your connection and try again");
      toast.error("The upload did not complete", { id });
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <PageHeader title="Import an organisation" description="An export archive from another Enclave: verified first (every file's SHA-256, the signed manifest, the audit log), then recreated here under this installation's rules." />
      <div className="space-y-6">
        <Card title="Archive">
          <form onSubmit={onSubmit} className="grid gap-4 md:grid-cols-2">
            <Field label="Export archive (.tar.gz)" name="archive" hint="Written by “Export everything” or npm run org:export.">
              <Input name="archive" type="file" accept=".gz,.tgz,application/gzip" required onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
            </Field>
            <Field label="New slug (optional)" name="slug" hint="When the source's slug is taken here.">
              <Input name="slug" value={slug} onChange={(e) => setSlug(e.target.value)} pattern="[a-z0-9-]{1,40}" autoComplete="off" />
            </Field>
            <div className="md:col-span-2">
              <Field label="Source installation's verifier key (optional)" name="key" hint="Without it the key inside the archive is used: that proves integrity, not origin.">
                <Input name="key" value={key} onChange={(e) => setKey(e.target.value)} placeholder="enclave.example.eu+1a2b3c4d+AbC…" autoComplete="off" />
              </Field>
            </div>
            <div className="md:col-span-2">
              <Button type="submit" loading={busy} disabled={!file}>{busy ? "Importing…" : "Verify and import"}</Button>
            </div>
          </form>
          {error && (
            <p role="alert" className="mt-4 rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-900">
              {error}
            </p>
          )}
        </Card>
        {result ? <ImportReport result={result} /> : !error && <EmptyState title="Nothing imported yet">Choose an archive: nothing is written unless it verifies.</EmptyState>}
      </div>
    </>
  );
}

function ImportReport({ result }: { result: ImportResult }) {
  return (
    <>
      <Card title={`Imported: ${result.organization.name}`}>
        <p className="text-sm text-slate-700">
          From <strong>{result.source.installation}</strong> ({result.source.organization.slug}, exported {new Date(result.source.exportedAt).toLocaleString()}) as{" "}
          <Link className="font-medium underline" href={`/o/${result.organization.slug}`}>{result.organization.slug}</Link>: {result.counts.usageRecords.toLocaleString()} usage records,{" "}
          {result.counts.traces.toLocaleString()} traces, {result.counts.auditEvents.toLocaleString()} audit events kept read-only.
        </p>
        {result.source.keyFromArchive && <p className="mt-2 text-sm text-amber-800">Checked against the key inside the archive: this proves integrity, not origin.</p>}
        <p className="mt-2 text-sm font-medium text-amber-900">The links and keys below are shown this once: copy them now.</p>
      </Card>
      <Card title="Members to invite again">
        <Table head={["Email", "Role", "Invitation link"]} caption="Invitations">
          {result.invitations.map((i) => (
            <tr key={i.email}>
              <Td>{i.email}</Td>
              <Td>{i.role}</Td>
              <Td><CopyButton text={`${window.location.origin}${i.acceptPath}`} label="Copy link" /></Td>
            </tr>
          ))}
        </Table>
      </Card>
      <Card title="API keys re-issued">
        {result.apiKeys.length === 0 ? (
          <p className="text-sm text-slate-600">No key to re-issue.</p>
        ) : (
          <Table head={["Name", "Old prefix", "New prefix", "New key"]} caption="Re-issued API keys">
            {result.apiKeys.map((k) => (
              <tr key={k.newPrefix}>
                <Td>{k.name}</Td>
                <Td className="font-mono text-xs">{k.oldPrefix}</Td>
                <Td className="font-mono text-xs">{k.newPrefix}</Td>
                <Td><CopyButton text={k.key} label="Copy key" /></Td>
              </tr>
            ))}
          </Table>
        )}
      </Card>
      <Card title="Deployments (created stopped)">
        <Table head={["Name", "State", "Notes"]} caption="Imported deployments">
          {result.deployments.map((d) => (
            <tr key={d.id}>
              <Td>{d.name}</Td>
              <Td><Badge>{d.state}</Badge></Td>
              <Td className="text-slate-600">{d.residency.join("; ") || "—"}</Td>
            </tr>
          ))}
        </Table>
        {result.routes.length > 0 && (
          <p className="mt-3 text-sm text-slate-600">
            Routes recreated over them: {result.routes.map((r) => `${r.name} (${r.members.join(" → ")})`).join(", ")}.
          </p>
        )}
        {result.quotaRequests.length > 0 && (
          <p className="mt-3 text-sm text-slate-600">
            Quota requests waiting for a decision: {result.quotaRequests.map((q) => `${q.gpus} ${q.gpuType} in ${q.region}`).join(", ")} —{" "}
            <Link className="underline" href="/admin/quotas">decide them</Link>.
          </p>
        )}
      </Card>
      <Card title="Could not be mapped">
        {result.unmapped.length === 0 ? (
          <p className="text-sm text-slate-600">Everything was mapped.</p>
        ) : (
          <ul className="list-disc space-y-1 pl-5 text-sm text-slate-700">
            {result.unmapped.map((u, n) => (
              <li key={n}><Badge tone="warn">{u.kind}</Badge> {u.reason}</li>
            ))}
          </ul>
        )}
      </Card>
    </>
  );
}
