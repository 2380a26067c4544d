"use client";
import { useState } from "react";
import { roleAtLeast } from "@/lib/roles";
import { CreateKeyDialog } from "../api-keys/create-key-dialog";
import { EditKeyDialog, RevokeKeyDialog, RotateKeyDialog, type ApiKeyRow } from "../api-keys/key-dialogs";
import { KeyRevealDialog, type RevealedKey } from "../api-keys/key-reveal";
import { formatDate, formatDateTime, formatEur, formatNumber } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api } from "../trpc";
import { Button } from "../ui/button";
import { Badge, PageHeader, Table, Td } from "../ui/layout";
import { EmptyState, QueryView } from "../ui/states";

type Open =
  | { kind: "create" }
  | { kind: "edit" | "rotate" | "revoke"; apiKey: ApiKeyRow }
  | { kind: "reveal"; title: string; revealed: RevealedKey }
  | null;

export function ApiKeysPage() {
  const org = useCurrentOrg();
  const canManage = roleAtLeast(org.role, "ADMIN");
  const keys = api.apiKeys.list.useQuery({ orgId: org.id, limit: 200 });
  const [open, setOpen] = useState<Open>(null);
  const close = () => setOpen(null);

  return (
    <>
      <PageHeader
        title="API keys"
        description="Keys your programs use to call your deployments through the OpenAI-compatible gateway. Only a hash of each secret is stored."
        actions={canManage ? <Button onClick={() => setOpen({ kind: "create" })}>Create API key</Button> : undefined}
      />
      <QueryView query={keys}>
        {({ items: list }) =>
          list.length === 0 ? (
            <EmptyState title="No API keys yet">
              {canManage ? "Create a key for each program that calls your deployments, with the scopes and limits it needs." : "An admin of your organisation can create keys."}
            </EmptyState>
          ) : (
            <Table head={["Name", "Status", "Key", "Access", "Limits", "Spend this month", ...(canManage ? ["Actions"] : [])]} caption="API keys">
              {list.map((k) => (
                <tr key={k.id}>
                  <Td>
                    <span className="font-medium">{k.name}</span>
                    <span className="block text-xs text-slate-500">
                      Created {formatDate(k.createdAt)} by {k.createdBy.name}
                    </span>
                    <span className="block text-xs text-slate-500">{k.lastUsedAt ? `Last used ${formatDateTime(k.lastUsedAt)}` : "Never used"}</span>
                  </Td>
                  <Td>
                    <StatusBadge k={k} />
                  </Td>
                  <Td>
                    <code className="font-mono text-xs">enc_{k.prefix}_…</code>
                    {k.previousPrefix && <span className="block text-xs text-slate-500">and <code className="font-mono">enc_{k.previousPrefix}_…</code></span>}
                  </Td>
                  <Td>
                    {k.scopes.join(", ")}
                    {k.captureContent && <span className="block text-xs font-medium text-amber-800">Captures prompts and completions</span>}
                    {k.allowedDeployments.length === 0 ? (
                      <span className="block text-xs text-slate-500">All deployments</span>
                    ) : (
                      <ul aria-label="Deployments">
                        {k.allowedDeployments.map((d) => (
                          <li key={d.id} className={`font-mono text-xs ${d.deleted ? "text-slate-400" : ""}`}>
                            {d.name ?? "a deployment"}
                            {d.deleted && " (deleted)"}
                          </li>
                        ))}
                      </ul>
                    )}
                  </Td>
                  <Td className="text-slate-700">
                    <Limits k={k} />
                  </Td>
                  <Td className="tabular-nums">
                    <Spend k={k} />
                  </Td>
                  {canManage && (
                    <Td className="text-right">
                      {k.status !== "revoked" && (
                        <div className="flex justify-end">
                          <Button variant="ghost" onClick={() => setOpen({ kind: "edit", apiKey: k })}>
                            Edit
                          </Button>
                          {k.status !== "expired" && (
                            <Button variant="ghost" onClick={() => setOpen({ kind: "rotate", apiKey: k })}>
                              Rotate
                            </Button>
                          )}
                          <Button variant="ghost" className="text-red-700" onClick={() => setOpen({ kind: "revoke", apiKey: k })}>
                            Revoke
                          </Button>
                        </div>
                      )}
                    </Td>
                  )}
                </tr>
              ))}
            </Table>
          )
        }
      </QueryView>

      {open?.kind === "create" && <CreateKeyDialog onClose={close} onCreated={(revealed) => setOpen({ kind: "reveal", title: "API key created", revealed })} />}
      {open?.kind === "edit" && <EditKeyDialog apiKey={open.apiKey} onClose={close} />}
      {open?.kind === "rotate" && <RotateKeyDialog apiKey={open.apiKey} onClose={close} onRotated={(revealed) => setOpen({ kind: "reveal", title: "API key rotated", revealed })} />}
      {open?.kind === "revoke" && <RevokeKeyDialog apiKey={open.apiKey} onClose={close} />}
      {open?.kind === "reveal" && <KeyRevealDialog title={open.title} revealed={open.revealed} onDone={close} />}
    </>
  );
}

function Limits({ k }: { k: ApiKeyRow }) {
  const limits = [k.rateLimitRpm !== null && `${formatNumber(k.rateLimitRpm)} req/min`, k.rateLimitTpm !== null && `${formatNumber(k.rateLimitTpm)} tokens/min`].filter(Boolean);
  return limits.length ? (
    <ul className="text-xs">
      {limits.map((l) => (
        <li key={String(l)}>{l}</li>
      ))}
    </ul>
  ) : (
    <span className="text-slate-500">None</span>
  );
}

function Spend({ k }: { k: ApiKeyRow }) {
  if (k.monthlyBudgetEur === null) return <>{formatEur(k.spendThisMonthEur)}</>;
  const share = Math.min(1, k.spendThisMonthEur / k.monthlyBudgetEur);
  return (
    <div className="min-w-32">
      <span>{formatEur(k.spendThisMonthEur)}</span> <span className="text-xs text-slate-500">of {formatEur(k.monthlyBudgetEur)}</span>
      <div className="mt-1 h-1.5 rounded-full bg-slate-200" role="meter" aria-label={`Budget used by ${k.name}`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(share * 100)}>
        <div className={`h-1.5 rounded-full ${share >= 1 ? "bg-red-600" : share >= 0.8 ? "bg-amber-500" : "bg-brand-600"}`} style={{ width: `${share * 100}%` }} />
      </div>
    </div>
  );
}

function StatusBadge({ k }: { k: ApiKeyRow }) {
  switch (k.status) {
    case "revoked":
      return <Badge tone="bad">Revoked</Badge>;
    case "expired":
      return <Badge tone="warn">Expired</Badge>;
    case "rotating":
      return (
        <>
          <Badge tone="info">Rotating</Badge>
          {k.rotatingUntil && <span className="block text-xs text-slate-500">old key until {formatDateTime(k.rotatingUntil)}</span>}
        </>
      );
    default:
      return (
        <>
          <Badge tone="good">Active</Badge>
          {k.expiresAt && <span className="block text-xs text-slate-500">until {formatDate(k.expiresAt)}</span>}
        </>
      );
  }
}
