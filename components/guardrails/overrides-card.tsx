"use client";
/**
 * Guardrail overrides of deployments and API keys (docs/guardrails.md, "Policies"): each names only
 * the rules it changes, the others inherit (organisation < deployment < key). Lists them with their
 * effective result; owners and admins add, edit and remove them (removal asks for confirmation).
 */
import { useState, type FormEvent } from "react";
import { toast } from "sonner";
import type { GuardrailAction, GuardrailRule } from "@/server/guardrails/types";
import { formatDateTime } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { Dialog, DialogActions } from "../ui/dialog";
import { ConfirmDialog } from "../ui/confirm-dialog";
import { Field, Select, fieldErrorsOf } from "../ui/form";
import { Card, Table, Td } from "../ui/layout";
import { LoadingState, QueryView } from "../ui/states";
import { ActionBadge, type GuardrailDefaults } from "./defaults-card";
import { ACTION_LABELS, RULE_LABELS } from "./labels";

type Overrides = RouterOutputs["guardrails"]["overrides"];
type Rules = Partial<Record<GuardrailRule, GuardrailAction>>;
type Target = { kind: "deployment" | "apiKey"; id: string; name: string; rules: Rules };

function RuleList({ rules, catalogue }: { rules: Rules; catalogue: GuardrailDefaults["catalogue"] }) {
  const set = catalogue.filter((r) => rules[r.rule] !== undefined);
  return (
    <ul className="space-y-1">
      {set.map((r) => (
        <li key={r.rule} className="flex flex-wrap items-center gap-1.5 text-xs">
          <span className="text-slate-600">{RULE_LABELS[r.rule].title}</span>
          <ActionBadge action={rules[r.rule]!} />
        </li>
      ))}
    </ul>
  );
}

function EffectiveList({ rules, overridden, catalogue }: { rules: Record<GuardrailRule, GuardrailAction>; overridden: Rules; catalogue: GuardrailDefaults["catalogue"] }) {
  return (
    <ul className="space-y-1">
      {catalogue.map((r) => (
        <li key={r.rule} className="flex flex-wrap items-center gap-1.5 text-xs">
          <span className={overridden[r.rule] !== undefined ? "font-medium text-slate-800" : "text-slate-500"}>{RULE_LABELS[r.rule].title}</span>
          <ActionBadge action={rules[r.rule]} />
        </li>
      ))}
    </ul>
  );
}

export function OverridesCard({ canEdit }: { canEdit: boolean }) {
  const org = useCurrentOrg();
  const defaults = api.guardrails.get.useQuery({ orgId: org.id });
  const overrides = api.guardrails.overrides.useQuery({ orgId: org.id });
  const [editing, setEditing] = useState<Target | "new" | null>(null);
  const [removing, setRemoving] = useState<Target | null>(null);
  return (
    <Card title={<span id="overrides">Overrides of deployments and keys</span>}>
      <p className="mb-3 text-sm text-slate-600">
        A deployment or an API key may change some rules; the others inherit. A key's override wins over its deployment's, which wins over the organisation's defaults.
      </p>
      <QueryView query={overrides} loading={<LoadingState label="Loading the overrides…" rows={2} />}>
        {(o) =>
          !defaults.data ? (
            <LoadingState rows={2} />
          ) : (
            <div className="space-y-5">
              {canEdit && (
                <Button variant="secondary" onClick={() => setEditing("new")}>
                  Add an override
                </Button>
              )}
              <OverrideTable
                title="Deployments"
                empty="No deployment overrides a rule: every deployment applies the organisation's defaults."
                rows={o.deployments.map((d) => ({ kind: "deployment" as const, id: d.deploymentId, name: d.deploymentName, detail: null, rules: d.rules, effective: d.effective, updatedAt: d.updatedAt }))}
                catalogue={defaults.data.catalogue}
                canEdit={canEdit}
                onEdit={setEditing}
                onRemove={setRemoving}
              />
              <OverrideTable
                title="API keys"
                empty="No API key overrides a rule."
                rows={o.apiKeys.map((k) => ({ kind: "apiKey" as const, id: k.apiKeyId, name: k.apiKeyName, detail: k.prefix, rules: k.rules, effective: k.effective, updatedAt: k.updatedAt }))}
                catalogue={defaults.data.catalogue}
                canEdit={canEdit}
                onEdit={setEditing}
                onRemove={setRemoving}
              />
            </div>
          )
        }
      </QueryView>
      {editing && defaults.data && overrides.data && (
        <OverrideDialog target={editing === "new" ? null : editing} defaults={defaults.data} overrides={overrides.data} onClose={() => setEditing(null)} />
      )}
      {removing && <RemoveDialog target={removing} onClose={() => setRemoving(null)} />}
    </Card>
  );
}

function OverrideTable({
  title,
  empty,
  rows,
  catalogue,
  canEdit,
  onEdit,
  onRemove,
}: {
  title: string;
  empty: string;
  rows: { kind: "deployment" | "apiKey"; id: string; name: string; detail: string | null; rules: Rules; effective: Record<GuardrailRule, GuardrailAction>; updatedAt: Date }[];
  catalogue: GuardrailDefaults["catalogue"];
  canEdit: boolean;
  onEdit: (t: Target) => void;
  onRemove: (t: Target) => void;
}) {
  return (
    <section aria-label={`${title} overrides`}>
      <h3 className="mb-2 text-sm font-semibold text-slate-700">{title}</h3>
      {rows.length === 0 ? (
        <p className="text-sm text-slate-500">{empty}</p>
      ) : (
        <Table head={["Name", "Overrides", "Effective", "Changed", ...(canEdit ? [""] : [])]} caption={`${title} with guardrail overrides`}>
          {rows.map((r) => (
            <tr key={r.id}>
              <Td className="whitespace-normal">
                <p className="font-medium">{r.name}</p>
                {r.detail && <p className="font-mono text-xs text-slate-500">{r.detail}</p>}
              </Td>
              <Td>
                <RuleList rules={r.rules} catalogue={catalogue} />
              </Td>
              <Td>
                <EffectiveList rules={r.effective} overridden={r.rules} catalogue={catalogue} />
              </Td>
              <Td className="text-slate-600">{formatDateTime(r.updatedAt)}</Td>
              {canEdit && (
                <Td>
                  <div className="flex gap-1">
                    <Button variant="secondary" onClick={() => onEdit({ kind: r.kind, id: r.id, name: r.name, rules: r.rules })} aria-label={`Edit the override of ${r.name}`}>
                      Edit
                    </Button>
                    <Button variant="ghost" onClick={() => onRemove({ kind: r.kind, id: r.id, name: r.name, rules: r.rules })} aria-label={`Remove the override of ${r.name}`}>
                      Remove
                    </Button>
                  </div>
                </Td>
              )}
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}

function useRefresh() {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  return () => Promise.all([utils.guardrails.overrides.invalidate({ orgId: org.id }), utils.guardrails.effective.invalidate()]);
}

function OverrideDialog({ target, defaults, overrides, onClose }: { target: Target | null; defaults: GuardrailDefaults; overrides: Overrides; onClose: () => void }) {
  const org = useCurrentOrg();
  const refresh = useRefresh();
  const deployments = api.deployments.list.useQuery({ orgId: org.id, limit: 200 }, { enabled: target === null });
  const keys = api.apiKeys.list.useQuery({ orgId: org.id, limit: 200 }, { enabled: target === null });
  const [choice, setChoice] = useState(target ? `${target.kind}:${target.id}` : "");
  const [rules, setRules] = useState<Rules>(target?.rules ?? {});
  const [localError, setLocalError] = useState<string | null>(null);
  const onSuccess = async (o: { name: string }) => {
    toast.success(`Override of ${o.name} saved: every gateway applies it within a second`);
    await refresh();
    onClose();
  };
  const setDeployment = api.guardrails.setDeploymentOverride.useMutation({ onSuccess, onError: (e) => toast.error(e.message) });
  const setKey = api.guardrails.setApiKeyOverride.useMutation({ onSuccess, onError: (e) => toast.error(e.message) });
  const errors = fieldErrorsOf(setDeployment.error ?? setKey.error);
  const ruleError = Object.entries(errors).find(([k]) => k === "rules" || k.startsWith("rules."))?.[1]?.[0];
  const taken = new Set([...overrides.deployments.map((d) => `deployment:${d.deploymentId}`), ...overrides.apiKeys.map((k) => `apiKey:${k.apiKeyId}`)]);

  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const [kind, id] = choice.split(":") as ["deployment" | "apiKey", string];
    if (!id) return setLocalError("Choose a deployment or an API key");
    if (Object.keys(rules).length === 0) return setLocalError("Override at least one rule; to inherit every rule, remove the override");
    setLocalError(null);
    if (kind === "deployment") setDeployment.mutate({ orgId: org.id, deploymentId: id, rules });
    else setKey.mutate({ orgId: org.id, apiKeyId: id, rules });
  }

  return (
    <Dialog title={target ? `Override of ${target.name}` : "Add an override"} description="Choose an action for the rules to change; “inherit” keeps the organisation's (or the deployment's) action." onClose={onClose} size="lg">
      <form onSubmit={onSubmit} noValidate className="space-y-4">
        {!target && (
          <Field label="Deployment or API key" name="overrideTarget" error={localError && !choice ? localError : undefined}>
            <Select name="overrideTarget" value={choice} onChange={(e) => setChoice(e.target.value)}>
              <option value="">Choose…</option>
              <optgroup label="Deployments">
                {deployments.data?.items
                  .filter((d) => !taken.has(`deployment:${d.id}`))
                  .map((d) => (
                    <option key={d.id} value={`deployment:${d.id}`}>
                      {d.name}
                    </option>
                  ))}
              </optgroup>
              <optgroup label="API keys">
                {keys.data?.items
                  .filter((k) => k.status !== "revoked" && !taken.has(`apiKey:${k.id}`))
                  .map((k) => (
                    <option key={k.id} value={`apiKey:${k.id}`}>
                      {k.name} ({k.prefix})
                    </option>
                  ))}
              </optgroup>
            </Select>
          </Field>
        )}
        <div className="grid gap-3 sm:grid-cols-2">
          {defaults.catalogue.map((r) => (
            <Field key={r.rule} label={RULE_LABELS[r.rule].title} name={`rule-${r.rule}`}>
              <Select
                name={`rule-${r.rule}`}
                value={rules[r.rule] ?? ""}
                onChange={(e) =>
                  setRules((old) => {
                    const next = { ...old };
                    if (e.target.value === "") delete next[r.rule];
                    else next[r.rule] = e.target.value as GuardrailAction;
                    return next;
                  })
                }
              >
                <option value="">Inherit (organisation: {ACTION_LABELS[defaults.rules[r.rule]].toLowerCase()})</option>
                {r.actions.map((a) => (
                  <option key={a} value={a}>
                    {ACTION_LABELS[a]}
                  </option>
                ))}
              </Select>
            </Field>
          ))}
        </div>
        {(ruleError ?? (choice ? localError : null)) && (
          <p role="alert" className="text-sm font-medium text-red-700">
            {ruleError ?? localError}
          </p>
        )}
        <DialogActions>
          <Button type="button" variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" loading={setDeployment.isPending || setKey.isPending}>
            Save override
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}

function RemoveDialog({ target, onClose }: { target: Target; onClose: () => void }) {
  const org = useCurrentOrg();
  const refresh = useRefresh();
  const onSuccess = async () => {
    toast.success(`Override of ${target.name} removed: it inherits every rule again`);
    await refresh();
    onClose();
  };
  const removeDeployment = api.guardrails.removeDeploymentOverride.useMutation({ onSuccess, onError: (e) => toast.error(e.message) });
  const removeKey = api.guardrails.removeApiKeyOverride.useMutation({ onSuccess, onError: (e) => toast.error(e.message) });
  return (
    <ConfirmDialog
      title={`Remove the override of ${target.name}?`}
      confirmLabel="Remove override"
      pending={removeDeployment.isPending || removeKey.isPending}
      onClose={onClose}
      onConfirm={() => (target.kind === "deployment" ? removeDeployment.mutate({ orgId: org.id, deploymentId: target.id }) : removeKey.mutate({ orgId: org.id, apiKeyId: target.id }))}
    >
      {`${target.kind === "deployment" ? "The deployment" : "The key"} will inherit every rule again, on every gateway within a second.`}
    </ConfirmDialog>
  );
}

