"use client";
import { useId } from "react";
import { formatDateTime } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api } from "../trpc";
import { Button } from "../ui/button";
import { CopyButton } from "../ui/copy-button";
import { Dialog, DialogActions } from "../ui/dialog";
import { curlSnippet, exampleModel, pythonSnippet, typescriptSnippet } from "./snippets";

export interface RevealedKey {
  name: string;
  key: string;
  allowedDeploymentIds: string[];
  /** After a rotation with a grace period: the previous key's prefix and until when it still works. */
  previous?: { prefix: string; until: Date } | null;
}

/**
 * The one moment a key's secret is on screen: it is not kept anywhere once this closes (the
 * server stores only its hash), so the person is told to copy it now.
 */
export function KeyRevealDialog({ revealed, title, onDone }: { revealed: RevealedKey; title: string; onDone: () => void }) {
  const org = useCurrentOrg();
  const fieldId = useId();
  const gateway = api.apiKeys.gatewayUrl.useQuery({ orgId: org.id }, { staleTime: Infinity });
  const deployments = api.deployments.list.useQuery({ orgId: org.id, limit: 200 });
  const baseUrl = gateway.data?.baseUrl ?? "$OPENAI_BASE_URL";
  const model = exampleModel(deployments.data?.items ?? [], revealed.allowedDeploymentIds) ?? "your-deployment-name";
  const snippet = { baseUrl, key: revealed.key, model };
  const examples = [
    { title: "curl", label: "Copy curl example", text: curlSnippet(snippet) },
    { title: "Python", label: "Copy Python example", text: pythonSnippet(snippet) },
    { title: "TypeScript", label: "Copy TypeScript example", text: typescriptSnippet(snippet) },
  ];
  return (
    <Dialog title={title} description={`Key “${revealed.name}”`} onClose={onDone} size="lg">
      <div className="space-y-4">
        <p role="note" className="rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm font-medium text-amber-900">
          This is the only time the key is shown. Copy it now and keep it in a secret store: Enclave keeps only a hash of it and cannot show it again.
        </p>
        <div className="space-y-1">
          <label htmlFor={fieldId} className="block text-sm font-medium text-slate-700">
            Your new API key
          </label>
          <div className="flex gap-2">
            <input
              id={fieldId}
              readOnly
              value={revealed.key}
              data-autofocus
              onFocus={(e) => e.currentTarget.select()}
              spellCheck={false}
              autoComplete="off"
              className="block w-full min-w-0 rounded-md border border-slate-300 bg-slate-50 px-3 py-2 font-mono text-sm text-slate-900 focus:border-brand-500 focus:outline-none focus:ring-1 focus:ring-brand-500"
            />
            <CopyButton text={revealed.key} />
          </div>
        </div>
        {revealed.previous && (
          <p className="text-sm text-slate-700">
            The previous key (<code className="font-mono text-xs">enc_{revealed.previous.prefix}_…</code>) keeps working until {formatDateTime(revealed.previous.until)}: update your programs before then.
          </p>
        )}
        <section aria-label="Examples" className="space-y-3">
          <h3 className="text-sm font-semibold text-slate-700">
            Call <span className="font-mono">{model}</span> with it
          </h3>
          {examples.map((e) => (
            <div key={e.title} className="rounded-md border border-slate-200">
              <div className="flex items-center justify-between gap-2 border-b border-slate-200 bg-slate-50 px-3 py-1.5">
                <span className="text-xs font-semibold uppercase tracking-wide text-slate-600">{e.title}</span>
                <CopyButton text={e.text} label={e.label} className="px-2 py-1 text-xs" />
              </div>
              <pre className="overflow-x-auto px-3 py-2 font-mono text-xs leading-relaxed text-slate-800">
                <code>{e.text}</code>
              </pre>
            </div>
          ))}
        </section>
      </div>
      <DialogActions>
        <Button type="button" onClick={onDone}>
          Done
        </Button>
      </DialogActions>
    </Dialog>
  );
}
