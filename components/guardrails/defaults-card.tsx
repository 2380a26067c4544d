"use client";
/**
 * The organisation's guardrail defaults (docs/guardrails.md, "Policies"): a table of rules ×
 * actions (a segmented control per rule for owners and admins, read-only for the others), the
 * personal-data types checked, and the groundedness judge and threshold.
 */
import { useState, type FormEvent } from "react";
import { toast } from "sonner";
import type { GuardrailAction, GuardrailRule, PiiType } from "@/server/guardrails/types";
import { formatDateTime } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { ConfirmDialog } from "../ui/confirm-dialog";
import { Checkbox, Fieldset } from "../ui/fields";
import { Field, Input, Select, fieldErrorsOf } from "../ui/form";
import { Badge, Card, Table, Td } from "../ui/layout";
import { Segmented } from "../ui/segmented";
import { LoadingState, QueryView } from "../ui/states";
import { ACTION_HINTS, ACTION_LABELS, ACTION_TONES, PII_LABELS, RULE_LABELS } from "./labels";

export type GuardrailDefaults = RouterOutputs["guardrails"]["get"];
type JudgeKind = "none" | "deployment" | "http";

export function ActionBadge({ action }: { action: GuardrailAction }) {
  return <Badge tone={ACTION_TONES[action]}>{ACTION_LABELS[action]}</Badge>;
}

export function DefaultsCard({ canEdit }: { canEdit: boolean }) {
  const org = useCurrentOrg();
  const defaults = api.guardrails.get.useQuery({ orgId: org.id });
  return (
    <Card title={<span id="defaults">Organisation defaults</span>}>
      <QueryView query={defaults} loading={<LoadingState label="Loading the guardrail defaults…" rows={4} />}>
        {(d) => (canEdit ? <DefaultsForm key={String(d.updatedAt)} defaults={d} /> : <DefaultsView defaults={d} />)}
      </QueryView>
    </Card>
  );
}

function Provenance({ defaults: d }: { defaults: GuardrailDefaults }) {
  return d.configured ? (
    <p className="text-xs text-slate-500">Set by your organisation{d.updatedAt ? `, last changed ${formatDateTime(d.updatedAt)}` : ""}.</p>
  ) : (
    <p className="text-sm text-slate-600">
      <Badge tone="info">Built-in defaults</Badge> Nobody has configured guardrails yet: schema and personal-data checks run on input and output in observe mode, so verdicts appear in your traces without changing any answer.
    </p>
  );
}

function DefaultsView({ defaults: d }: { defaults: GuardrailDefaults }) {
  return (
    <div className="space-y-4">
      <Provenance defaults={d} />
      <Table head={["Rule", "Action"]} caption="Guardrail rules and their actions">
        {d.catalogue.map((r) => (
          <tr key={r.rule}>
            <Td className="whitespace-normal">
              <p className="font-medium">{RULE_LABELS[r.rule].title}</p>
              <p className="text-xs text-slate-500">{RULE_LABELS[r.rule].hint}</p>
            </Td>
            <Td>
              <ActionBadge action={d.rules[r.rule]} />
            </Td>
          </tr>
        ))}
      </Table>
      <dl className="grid gap-3 text-sm sm:grid-cols-3">
        <div>
          <dt className="font-medium text-slate-700">Personal data checked</dt>
          <dd className="text-slate-600">{d.piiTypes ? d.piiTypes.map((p) => PII_LABELS[p]).join(", ") : "Every built-in type"}</dd>
        </div>
        <div>
          <dt className="font-medium text-slate-700">Groundedness judge</dt>
          <dd className="text-slate-600">{judgeText(d.judge)}</dd>
        </div>
        <div>
          <dt className="font-medium text-slate-700">Groundedness threshold</dt>
          <dd className="tabular-nums text-slate-600">{d.groundedThreshold}</dd>
        </div>
      </dl>
      <p className="text-xs text-slate-500">Owners and admins change the guardrails.</p>
    </div>
  );
}

function judgeText(judge: GuardrailDefaults["judge"]) {
  if (!judge) return "None: the built-in check only";
  if (judge.kind === "http") return `HTTP verifier ${judge.url}`;
  return judge.deploymentName ? `Deployment ${judge.deploymentName}` : "A deleted deployment (the built-in check still runs)";
}

function DefaultsForm({ defaults: d }: { defaults: GuardrailDefaults }) {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const deployments = api.deployments.list.useQuery({ orgId: org.id, limit: 200 });
  const [rules, setRules] = useState<Record<GuardrailRule, GuardrailAction>>(d.rules);
  const [allTypes, setAllTypes] = useState(d.piiTypes === null);
  const [types, setTypes] = useState<Set<PiiType>>(new Set(d.piiTypes ?? d.availablePiiTypes.filter((t) => t !== "PERSON")));
  const [judgeKind, setJudgeKind] = useState<JudgeKind>(d.judge?.kind ?? "none");
  const [judgeDeploymentId, setJudgeDeploymentId] = useState(d.judge?.deploymentId ?? "");
  const [judgeUrl, setJudgeUrl] = useState(d.judge?.url ?? "");
  const [threshold, setThreshold] = useState(String(d.groundedThreshold));
  const [localError, setLocalError] = useState<string | null>(null);
  const [confirmReset, setConfirmReset] = useState(false);
  const refresh = () => Promise.all([utils.guardrails.get.invalidate({ orgId: org.id }), utils.guardrails.overrides.invalidate({ orgId: org.id }), utils.guardrails.effective.invalidate()]);
  const save = api.guardrails.set.useMutation({
    onSuccess: async () => {
      toast.success("Guardrail defaults saved: every gateway applies them within a second");
      await refresh();
    },
    onError: (e) => toast.error(e.message),
  });
  const reset = api.guardrails.reset.useMutation({
    onSuccess: async () => {
      toast.success("Back to the built-in guardrail defaults");
      setConfirmReset(false);
      await refresh();
    },
    onError: (e) => toast.error(e.message),
  });
  const errors = fieldErrorsOf(save.error);
  const errorAt = (prefix: string) => Object.entries(errors).find(([k]) => k === prefix || k.startsWith(`${prefix}.`))?.[1]?.[0];

  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const t = Number(threshold.replace(",", "."));
    if (threshold.trim() === "" || !Number.isFinite(t)) {
      setLocalError("Enter the threshold as a number from 0 to 1, e.g. 0.7");
      return;
    }
    if (!allTypes && types.size === 0) {
      setLocalError("Choose at least one personal-data type, or check all of them");
      return;
    }
    setLocalError(null);
    save.mutate({
      orgId: org.id,
      rules,
      piiTypes: allTypes ? null : d.availablePiiTypes.filter((p) => types.has(p)),
      judge: judgeKind === "none" ? null : judgeKind === "deployment" ? { kind: "deployment", deploymentId: judgeDeploymentId } : { kind: "http", url: judgeUrl.trim() },
      groundedThreshold: t,
    });
  }

  return (
    <form onSubmit={onSubmit} noValidate className="space-y-5">
      <Provenance defaults={d} />
      <Table head={["Rule", "Action"]} caption="Guardrail rules and their actions">
        {d.catalogue.map((r) => (
          <tr key={r.rule}>
            <Td className="whitespace-normal">
              <p className="font-medium">{RULE_LABELS[r.rule].title}</p>
              <p className="max-w-md text-xs text-slate-500">{RULE_LABELS[r.rule].hint}</p>
              {errorAt(`rules.${r.rule}`) && (
                <p role="alert" className="text-xs font-medium text-red-700">
                  {errorAt(`rules.${r.rule}`)}
                </p>
              )}
            </Td>
            <Td>
              <Segmented
                label={`Action of ${RULE_LABELS[r.rule].title}`}
                options={r.actions.map((a) => ({ value: a, label: ACTION_LABELS[a] }))}
                value={rules[r.rule]}
                onChange={(a) => setRules((old) => ({ ...old, [r.rule]: a }))}
              />
              <p className="mt-1 text-xs text-slate-500">
                {ACTION_HINTS[rules[r.rule]]}
                {rules[r.rule] !== r.defaultAction && ` (built-in: ${ACTION_LABELS[r.defaultAction].toLowerCase()})`}
              </p>
            </Td>
          </tr>
        ))}
      </Table>

      <Fieldset legend="Personal data checked" hint="The types the personal-data rules look for, on input and output." error={errorAt("piiTypes")} errorId="piiTypes-error">
        <Checkbox label="Every built-in type" checked={allTypes} onChange={(e) => setAllTypes(e.target.checked)} />
        {!allTypes && (
          <div className="mt-2 grid gap-1 sm:grid-cols-2 lg:grid-cols-3">
            {d.availablePiiTypes.map((p) => (
              <Checkbox
                key={p}
                label={PII_LABELS[p]}
                checked={types.has(p)}
                onChange={(e) =>
                  setTypes((old) => {
                    const next = new Set(old);
                    if (e.target.checked) next.add(p);
                    else next.delete(p);
                    return next;
                  })
                }
              />
            ))}
          </div>
        )}
      </Fieldset>

      <div className="grid gap-3 sm:grid-cols-3">
        <Field label="Groundedness judge" name="judgeKind" hint="Besides the built-in check (numbers, dates, names and quotes found in no source).">
          <Select name="judgeKind" value={judgeKind} onChange={(e) => setJudgeKind(e.target.value as JudgeKind)}>
            <option value="none">None: the built-in check only</option>
            <option value="deployment">One of our deployments</option>
            <option value="http">An HTTP verifier service</option>
          </Select>
        </Field>
        {judgeKind === "deployment" && (
          <Field label="Judge deployment" name="judgeDeploymentId" error={errorAt("judge")} hint="Called through the platform: the data stays in its region.">
            <Select name="judgeDeploymentId" value={judgeDeploymentId} onChange={(e) => setJudgeDeploymentId(e.target.value)} invalid={Boolean(errorAt("judge"))}>
              <option value="">Choose a deployment…</option>
              {deployments.data?.items.map((dep) => (
                <option key={dep.id} value={dep.id}>
                  {dep.name}
                </option>
              ))}
            </Select>
          </Field>
        )}
        {judgeKind === "http" && (
          <Field label="Verifier URL" name="judgeUrl" error={errorAt("judge")} hint="http:// or https://, without credentials or query string.">
            <Input name="judgeUrl" type="url" inputMode="url" placeholder="https://verifier.internal/v1/groundedness" value={judgeUrl} onChange={(e) => setJudgeUrl(e.target.value)} invalid={Boolean(errorAt("judge"))} autoComplete="off" />
          </Field>
        )}
        <Field label="Groundedness threshold" name="groundedThreshold" error={localError ?? errorAt("groundedThreshold")} hint="A score under this fails the check (0 to 1).">
          <Input name="groundedThreshold" inputMode="decimal" value={threshold} onChange={(e) => setThreshold(e.target.value)} invalid={Boolean(localError ?? errorAt("groundedThreshold"))} autoComplete="off" />
        </Field>
      </div>

      <div className="flex flex-wrap gap-2">
        <Button type="submit" loading={save.isPending}>
          Save defaults
        </Button>
        {d.configured && (
          <Button type="button" variant="ghost" className="sm:ml-auto" onClick={() => setConfirmReset(true)}>
            Return to the built-in defaults
          </Button>
        )}
      </div>
      {confirmReset && (
        <ConfirmDialog title="Return to the built-in defaults?" confirmLabel="Return to built-in" pending={reset.isPending} onClose={() => setConfirmReset(false)} onConfirm={() => reset.mutate({ orgId: org.id })}>
          Schema and personal-data checks in observe mode, every personal-data type, no judge. Overrides of deployments and keys stay.
        </ConfirmDialog>
      )}
    </form>
  );
}
