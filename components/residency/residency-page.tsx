"use client";
/**
 * The console's residency policies page (docs/residency.md): one card per data class with its
 * policy (or none), the deployments of that class that do not comply, and for owners and admins
 * an editor whose save first shows the impact preview (which deployments would stop complying,
 * by name and region, with the reasons) in a confirmation dialog; removal is confirmed the same way.
 */
import Link from "next/link";
import { useMemo, useState, type FormEvent, type ReactNode } from "react";
import { toast } from "sonner";
import { residencyRuleInput, type ResidencyRuleInput } from "@/lib/residency";
import { roleAtLeast } from "@/lib/roles";
import { formatDateTime } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { Dialog, DialogActions } from "../ui/dialog";
import { ConfirmDialog } from "../ui/confirm-dialog";
import { Checkbox, Fieldset } from "../ui/fields";
import { Field, Input, fieldErrorsOf } from "../ui/form";
import { Badge, Card, PageHeader } from "../ui/layout";
import { LoadingState, QueryView } from "../ui/states";
import { CLASS_HINTS, CLASS_LABELS, DATA_CLASSIFICATIONS, NO_POLICY_TEXT, type DataClassification } from "./labels";

type Policy = RouterOutputs["compliance"]["residencyPolicies"][number];
type Region = RouterOutputs["regions"]["forOrg"][number];
type Compliance = RouterOutputs["residency"]["compliance"][number];
type Impact = RouterOutputs["residency"]["impact"];

export function ResidencyPage() {
  const org = useCurrentOrg();
  const canEdit = roleAtLeast(org.role, "ADMIN");
  const policies = api.compliance.residencyPolicies.useQuery({ orgId: org.id });
  const regions = api.regions.forOrg.useQuery({ orgId: org.id });
  const compliance = api.residency.compliance.useQuery({ orgId: org.id });
  return (
    <>
      <PageHeader
        title="Residency policies"
        description="Where each class of your data may be processed: the laws the region's operator may answer to, the certifications it must hold, the regions allowed, and whether an operator exposed to extraterritorial law is acceptable. The gateway applies a change within a second; restricted data is refused everywhere until you set its policy."
      />
      <QueryView query={policies} loading={<LoadingState label="Loading the residency policies…" rows={4} />}>
        {(list) => (
          <div className="grid gap-6 lg:grid-cols-2">
            {DATA_CLASSIFICATIONS.map((dc) => (
              <PolicyCard
                key={dc}
                dataClassification={dc}
                policy={list.find((p) => p.dataClassification === dc) ?? null}
                regions={regions.data ?? []}
                compliance={(compliance.data ?? []).filter((c) => c.dataClassification === dc)}
                canEdit={canEdit}
              />
            ))}
          </div>
        )}
      </QueryView>
      {!canEdit && <p className="mt-4 text-sm text-slate-500">Owners and admins change the residency policies.</p>}
    </>
  );
}

function PolicyCard({ dataClassification: dc, policy, regions, compliance, canEdit }: { dataClassification: DataClassification; policy: Policy | null; regions: Region[]; compliance: Compliance[]; canEdit: boolean }) {
  const org = useCurrentOrg();
  const [editing, setEditing] = useState(false);
  const [confirmRemove, setConfirmRemove] = useState<Impact | null>(null);
  const utils = api.useUtils();
  const [previewing, setPreviewing] = useState(false);
  const refresh = () => Promise.all([utils.compliance.residencyPolicies.invalidate({ orgId: org.id }), utils.residency.compliance.invalidate({ orgId: org.id }), utils.regions.forOrg.invalidate()]);
  const remove = api.residency.remove.useMutation({
    onSuccess: async () => {
      toast.success(`${CLASS_LABELS[dc]} policy removed: every gateway applies it within a second`);
      setConfirmRemove(null);
      await refresh();
    },
    onError: (e) => toast.error(e.message),
  });
  const nonCompliant = compliance.filter((c) => c.status === "non_compliant");
  const regionName = (id: string) => regions.find((r) => r.id === id)?.code ?? id;

  async function askRemove() {
    if (previewing) return;
    setPreviewing(true);
    try {
      setConfirmRemove(await utils.residency.impact.fetch({ orgId: org.id, dataClassification: dc, policy: null }, { staleTime: 0 }));
    } catch (e) {
      toast.error((e as Error).message);
    } finally {
      setPreviewing(false);
    }
  }

  return (
    <section id={`policy-${dc}`} aria-labelledby={`policy-${dc}-title`} data-testid={`policy-${dc}`}>
      <Card
        title={
          <span id={`policy-${dc}-title`} className="flex flex-wrap items-center gap-2">
            {CLASS_LABELS[dc]} data
            {policy ? <Badge tone="info">Policy set</Badge> : dc === "RESTRICTED" ? <Badge tone="bad">Refused everywhere</Badge> : <Badge>No policy</Badge>}
          </span>
        }
      >
        <p className="text-xs text-slate-500">{CLASS_HINTS[dc]}</p>
        {editing ? (
          <PolicyEditor dataClassification={dc} policy={policy} regions={regions} onDone={() => setEditing(false)} onSaved={refresh} />
        ) : (
          <div className="mt-3 space-y-3">
            {policy ? (
              <dl className="grid gap-2 text-sm sm:grid-cols-2">
                <Fact label="Jurisdictions">{policy.allowedJurisdictions.length ? policy.allowedJurisdictions.join(", ") : "Any"}</Fact>
                <Fact label="Required certifications">{policy.requiredCertifications.length ? policy.requiredCertifications.join(", ") : "None"}</Fact>
                <Fact label="Regions">{policy.allowedRegionIds.length ? policy.allowedRegionIds.map(regionName).join(", ") : "Any that meets the rules"}</Fact>
                <Fact label="Extraterritorial exposure">{policy.allowExtraterritorial ? "Allowed" : "Refused"}</Fact>
                <Fact label="Last changed">{formatDateTime(policy.updatedAt)}</Fact>
              </dl>
            ) : (
              <p className={`text-sm ${dc === "RESTRICTED" ? "font-medium text-red-800" : "text-slate-600"}`}>{NO_POLICY_TEXT[dc]}</p>
            )}
            {nonCompliant.length > 0 && (
              <div role="status" className="rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-950">
                <p className="font-medium">
                  {nonCompliant.length === 1 ? "1 deployment does" : `${nonCompliant.length} deployments do`} not comply: the gateway refuses {CLASS_LABELS[dc].toLowerCase()} requests to {nonCompliant.length === 1 ? "it" : "them"}.
                </p>
                <ul className="mt-1 space-y-1">
                  {nonCompliant.map((c) => (
                    <li key={c.deploymentId}>
                      <Link href={`/o/${org.slug}/deployments/${c.deploymentId}`} className="font-medium text-brand-700 underline">
                        {c.deploymentName}
                      </Link>{" "}
                      in {c.regionCode}: {c.reasons.join("; ")}
                    </li>
                  ))}
                </ul>
              </div>
            )}
            {canEdit && (
              <div className="flex flex-wrap gap-2">
                <Button type="button" variant={policy ? "secondary" : "primary"} onClick={() => setEditing(true)}>
                  {policy ? "Edit policy" : "Set a policy"}
                </Button>
                {/* Not disabled while the impact loads: the dialog must find its opener focused, to give focus back. */}
                {policy && (
                  <Button type="button" variant="ghost" aria-busy={previewing || undefined} onClick={() => void askRemove()}>
                    Remove
                  </Button>
                )}
              </div>
            )}
          </div>
        )}
      </Card>
      {confirmRemove && (
        <ConfirmDialog
          title={`Remove the ${CLASS_LABELS[dc].toLowerCase()} policy?`}
          confirmLabel="Remove policy"
          typeToConfirm={CLASS_LABELS[dc]}
          pending={remove.isPending}
          onClose={() => setConfirmRemove(null)}
          onConfirm={() => remove.mutate({ orgId: org.id, dataClassification: dc })}
          details={<ImpactSummary impact={confirmRemove} />}
        >
          {dc === "RESTRICTED" ? "Restricted data is then refused everywhere until a new policy is set." : `${CLASS_LABELS[dc]} data may then be processed in every region.`}
        </ConfirmDialog>
      )}
    </section>
  );
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <dt className="font-medium text-slate-700">{label}</dt>
      <dd className="break-words text-slate-600">{children}</dd>
    </div>
  );
}

/** Which deployments the change would stop (or start) complying, by name and region, with the reasons. */
function ImpactSummary({ impact }: { impact: Impact }) {
  return (
    <div className="space-y-3 text-sm" data-testid="impact-preview">
      {impact.stopComplying.length > 0 ? (
        <div role="alert" className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-red-900">
          <p className="font-semibold">
            {impact.stopComplying.length === 1 ? "1 deployment would stop complying" : `${impact.stopComplying.length} deployments would stop complying`}: the gateway refuses this class to {impact.stopComplying.length === 1 ? "it" : "them"} at once.
          </p>
          <ul className="mt-1 space-y-1">
            {impact.stopComplying.map((d) => (
              <li key={d.deploymentId} data-testid="stops-complying">
                <span className="font-medium">{d.deploymentName}</span> in {d.region.code} ({d.region.name}): {d.proposed.reasons.join("; ")}
              </li>
            ))}
          </ul>
        </div>
      ) : (
        <p className="text-slate-700">No deployment would stop complying.</p>
      )}
      {impact.startComplying.length > 0 && (
        <div className="rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-emerald-900">
          <p className="font-semibold">{impact.startComplying.length === 1 ? "1 deployment would comply again" : `${impact.startComplying.length} deployments would comply again`}:</p>
          <ul className="mt-1 space-y-1">
            {impact.startComplying.map((d) => (
              <li key={d.deploymentId}>
                <span className="font-medium">{d.deploymentName}</span> in {d.region.code}
              </li>
            ))}
          </ul>
        </div>
      )}
      <p className="text-xs text-slate-500">
        {impact.deployments.length === 0 ? "You have no deployment of this class yet." : `${impact.deployments.length} deployment(s) of this class checked.`}
      </p>
    </div>
  );
}

const splitCodes = (text: string) =>
  text
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter(Boolean);

function PolicyEditor({ dataClassification: dc, policy, regions, onDone, onSaved }: { dataClassification: DataClassification; policy: Policy | null; regions: Region[]; onDone: () => void; onSaved: () => Promise<unknown> }) {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  // The certifications the regions hold, offered as checkboxes (and any the policy names that none holds).
  const offered = useMemo(() => {
    const all = new Map<string, string>();
    for (const name of [...regions.flatMap((r) => r.certifications), ...(policy?.requiredCertifications ?? [])]) {
      const key = name.toLowerCase().replace(/[\s_-]+/g, "");
      if (!all.has(key)) all.set(key, name);
    }
    return [...all.values()].sort((a, b) => a.localeCompare(b));
  }, [regions, policy]);
  const [jurisdictions, setJurisdictions] = useState((policy?.allowedJurisdictions ?? []).join(", "));
  const [certifications, setCertifications] = useState<Set<string>>(new Set(policy?.requiredCertifications ?? []));
  const [otherCertifications, setOtherCertifications] = useState("");
  const [regionIds, setRegionIds] = useState<Set<string>>(new Set(policy?.allowedRegionIds ?? []));
  const [allowExtraterritorial, setAllowExtraterritorial] = useState(policy?.allowExtraterritorial ?? false);
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});
  const [preview, setPreview] = useState<{ impact: Impact; rule: ResidencyRuleInput } | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const save = api.residency.put.useMutation({
    onSuccess: async () => {
      toast.success(`${CLASS_LABELS[dc]} policy saved: every gateway applies it within a second`);
      setPreview(null);
      await onSaved();
      onDone();
    },
    onError: (e) => {
      setPreview(null);
      toast.error(e.message);
    },
  });
  const serverErrors = fieldErrorsOf(save.error);
  const errorAt = (prefix: string) => localErrors[prefix] ?? Object.entries(serverErrors).find(([k]) => k === prefix || k.startsWith(`${prefix}.`))?.[1]?.[0];
  const toggle = (set: Set<string>, value: string, on: boolean) => {
    const next = new Set(set);
    if (on) next.add(value);
    else next.delete(value);
    return next;
  };

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const parsed = residencyRuleInput.safeParse({
      allowedJurisdictions: splitCodes(jurisdictions),
      requiredCertifications: [...offered.filter((c) => certifications.has(c)), ...otherCertifications.split(",").map((s) => s.trim()).filter(Boolean)],
      allowedRegionIds: regions.filter((r) => regionIds.has(r.id)).map((r) => r.id),
      allowExtraterritorial,
    });
    if (!parsed.success) {
      const errors: Record<string, string> = {};
      for (const issue of parsed.error.issues) errors[String(issue.path[0])] ??= issue.message;
      setLocalErrors(errors);
      return;
    }
    setLocalErrors({});
    setPreviewing(true);
    try {
      const impact = await utils.residency.impact.fetch({ orgId: org.id, dataClassification: dc, policy: parsed.data }, { staleTime: 0 });
      setPreview({ impact, rule: parsed.data });
    } catch (e) {
      toast.error((e as Error).message);
    } finally {
      setPreviewing(false);
    }
  }

  return (
    <form onSubmit={(e) => void onSubmit(e)} noValidate className="mt-3 space-y-4" aria-label={`${CLASS_LABELS[dc]} residency policy`}>
      <Field
        label="Allowed jurisdictions"
        name={`jurisdictions-${dc}`}
        error={errorAt("allowedJurisdictions")}
        hint="Two-letter ISO country codes of the laws the operator may answer to, or EU for every member state, separated by commas. Empty: any."
      >
        <Input name={`jurisdictions-${dc}`} value={jurisdictions} onChange={(e) => setJurisdictions(e.target.value)} placeholder="FR, DE, EU" autoComplete="off" invalid={Boolean(errorAt("allowedJurisdictions"))} />
      </Field>
      <Fieldset legend="Required certifications" hint="A region must hold every one checked." error={errorAt("requiredCertifications")} errorId={`certifications-${dc}-error`}>
        <div className="grid gap-1 sm:grid-cols-2">
          {offered.map((c) => (
            <Checkbox key={c} label={c} checked={certifications.has(c)} onChange={(e) => setCertifications((old) => toggle(old, c, e.target.checked))} />
          ))}
        </div>
        <Input name={`other-certifications-${dc}`} aria-label="Other certifications" value={otherCertifications} onChange={(e) => setOtherCertifications(e.target.value)} placeholder="Other certifications, separated by commas" autoComplete="off" />
      </Fieldset>
      <Fieldset legend="Allowed regions" hint="None checked: any region that meets the rules above." error={errorAt("allowedRegionIds")} errorId={`regions-${dc}-error`}>
        <div className="grid gap-1 sm:grid-cols-2">
          {regions.map((r) => (
            <Checkbox
              key={r.id}
              label={`${r.code}`}
              hint={`${r.name} · ${r.jurisdiction}${r.certifications.length ? ` · ${r.certifications.join(", ")}` : ""}${r.extraterritorialExposure ? " · exposed" : ""}`}
              checked={regionIds.has(r.id)}
              onChange={(e) => setRegionIds((old) => toggle(old, r.id, e.target.checked))}
            />
          ))}
        </div>
      </Fieldset>
      <Checkbox
        label="Allow operators exposed to extraterritorial law"
        hint="e.g. a provider subject to the US CLOUD Act, even in an EU data centre."
        checked={allowExtraterritorial}
        onChange={(e) => setAllowExtraterritorial(e.target.checked)}
      />
      <div className="flex flex-wrap gap-2">
        <Button type="submit" loading={previewing}>
          Review and save
        </Button>
        <Button type="button" variant="ghost" onClick={onDone}>
          Cancel
        </Button>
      </div>
      {preview && (
        <Dialog title={`Save the ${CLASS_LABELS[dc].toLowerCase()} policy?`} description="What this change does to your deployments of this class." onClose={() => setPreview(null)}>
          <ImpactSummary impact={preview.impact} />
          <DialogActions>
            <Button type="button" variant="secondary" onClick={() => setPreview(null)}>
              Back to the policy
            </Button>
            <Button
              type="button"
              variant={preview.impact.stopComplying.length ? "danger" : "primary"}
              loading={save.isPending}
              onClick={() => save.mutate({ orgId: org.id, dataClassification: dc, ...preview.rule })}
              data-autofocus
            >
              Save policy
            </Button>
          </DialogActions>
        </Dialog>
      )}
    </form>
  );
}
