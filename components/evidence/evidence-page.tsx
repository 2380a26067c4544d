"use client";
import Link from "next/link";
import type { ReactNode } from "react";
import { formatDate, formatDateTime, formatNumber } from "../format";
import { dataClassLabel } from "../deployments/phase";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterOutputs } from "../trpc";
import { Badge, Card, Table, Td } from "../ui/layout";
import { EmptyState, LoadingState, QueryView } from "../ui/states";

type Evidence = RouterOutputs["evidence"]["deployment"];
type ArtifactStatus = Evidence["model"]["artifactStatus"];

const ARTIFACT_BADGES: Record<ArtifactStatus, { tone: "good" | "bad" | "warn" | "neutral"; label: string }> = {
  verified: { tone: "good", label: "Verified" },
  mismatch: { tone: "bad", label: "Mismatch" },
  unverified: { tone: "warn", label: "Unverified" },
  not_checked: { tone: "neutral", label: "Not checked" },
};

const RULE_LABELS: Record<string, string> = {
  "schema.output": "Output schema",
  "pii.input": "Personal data in prompts",
  "pii.output": "Personal data in answers",
  "grounded.output": "Groundedness of answers",
};

/** SEAL_3 → SEAL-3, as the EU Cloud Sovereignty Framework writes it. */
export const sealLabel = (level: string) => level.replace("_", "-");

export function ArtifactBadge({ status }: { status: ArtifactStatus }) {
  const b = ARTIFACT_BADGES[status];
  return <Badge tone={b.tone}>{b.label}</Badge>;
}

/** A digest that wraps on a phone instead of widening the page. */
function Digest({ value, label }: { value: string | null; label?: string }) {
  if (!value) return <span className="text-slate-500">none</span>;
  return (
    <code className="break-all font-mono text-xs" aria-label={label}>
      {value}
    </code>
  );
}

function Facts({ items }: { items: [string, ReactNode][] }) {
  return (
    <dl className="grid grid-cols-1 gap-x-6 gap-y-2 text-sm sm:grid-cols-[12rem_minmax(0,1fr)]">
      {items.map(([term, value]) => (
        <div key={term} className="contents">
          <dt className="font-medium text-slate-600">{term}</dt>
          <dd className="min-w-0 break-words">{value}</dd>
        </div>
      ))}
    </dl>
  );
}

export function EvidencePage({ deploymentId }: { deploymentId: string }) {
  const org = useCurrentOrg();
  const evidence = api.evidence.deployment.useQuery({ orgId: org.id, deploymentId });
  return (
    <>
      <Link href={`/o/${org.slug}/deployments/${deploymentId}`} className="mb-3 inline-block text-sm font-medium text-brand-700 underline-offset-2 hover:underline">
        <span aria-hidden>← </span>Deployment
      </Link>
      <QueryView query={evidence} loading={<LoadingState label="Gathering the evidence…" rows={6} />}>
        {(e) => <EvidenceView e={e} orgId={org.id} />}
      </QueryView>
    </>
  );
}

function EvidenceView({ e, orgId }: { e: Evidence; orgId: string }) {
  const json = `/api/v1/orgs/${encodeURIComponent(orgId)}/deployments/${encodeURIComponent(e.deployment.id)}/evidence`;
  return (
    <div className="space-y-6">
      <header className="flex flex-col gap-3 sm:flex-row sm:items-end sm:justify-between">
        <div className="min-w-0">
          <h1 className="break-all text-2xl font-semibold tracking-tight">Evidence: {e.deployment.name}</h1>
          <p className="mt-1 max-w-2xl text-sm text-slate-600">
            Where this deployment runs and under which rules, as the platform recorded it — generated {formatDateTime(e.generatedAt)}. The JSON is the same document, for
            auditors and scripts (<code className="break-all text-xs">GET {json.replace(orgId, "{orgId}")}</code>).
          </p>
        </div>
        <a
          href={json}
          download={`evidence-${e.deployment.name}.json`}
          className="inline-flex items-center justify-center gap-2 rounded-md bg-brand-600 px-3 py-2 text-sm font-medium text-white hover:bg-brand-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-brand-500 focus-visible:ring-offset-2"
        >
          Download JSON
        </a>
      </header>
      <RegionSection e={e} />
      <ModelSection e={e} />
      <ResidencySection e={e} />
      <GuardrailsSection e={e} />
      <AuditSection e={e} />
    </div>
  );
}

function RegionSection({ e }: { e: Evidence }) {
  const r = e.region;
  return (
    <Card title="Region">
      <Facts
        items={[
          ["Region", <span key="r">{r.name} <span className="font-mono text-xs text-slate-500">({r.code})</span></span>],
          ["Operator", r.operator],
          ["Location", `${r.city}, ${r.country}${r.onPremises ? " (on premises)" : ""}`],
          ["Jurisdiction", r.jurisdiction],
          [
            "Extraterritorial exposure",
            r.extraterritorialExposure ? (
              <span key="x">
                <Badge tone="bad">Exposed</Badge> {r.exposureNote}
              </span>
            ) : (
              "None recorded"
            ),
          ],
          ["EU Cloud Sovereignty level", r.sovereigntyLevel ? <Badge key="s" tone="info">{sealLabel(r.sovereigntyLevel)}</Badge> : <span key="s" className="text-slate-500">Not assessed by the platform</span>],
        ]}
      />
      <h3 className="mb-2 mt-4 text-sm font-semibold text-slate-700">Certifications</h3>
      {r.certifications.length === 0 ? (
        <p className="text-sm text-slate-600">The region lists no certification.</p>
      ) : (
        <Table caption="Certifications of the region" head={["Certification", "Issuer", "Scope", "Validity"]}>
          {r.certifications.map((c) => (
            <tr key={c.name} data-testid="certification">
              <Td className="font-medium">{c.name}</Td>
              <Td>{c.issuer ?? <span className="text-slate-500">—</span>}</Td>
              <Td className="max-w-md whitespace-normal">{c.scope ?? <span className="text-slate-500">—</span>}</Td>
              <Td className="whitespace-normal">
                <Badge tone={c.validToday === null ? "neutral" : c.validToday ? "good" : "bad"}>{c.validToday === null ? "No details" : c.validToday ? "Valid today" : "Not valid today"}</Badge>
                <span className="ml-2 text-xs text-slate-600">
                  {c.validFrom ? `${c.validFrom} – ${c.validUntil ?? "no end date"}` : c.validity}
                </span>
              </Td>
            </tr>
          ))}
        </Table>
      )}
    </Card>
  );
}

function ModelSection({ e }: { e: Evidence }) {
  const m = e.model;
  return (
    <Card title="Model and artifact">
      <Facts
        items={[
          ["Model", `${m.name} ${m.version} (${m.slug})`],
          ["Licence", m.license],
          ["Openness", `${m.openWeights ? "Open weights" : "Closed weights"} · ${m.openData ? "open training data" : "training data not published"}`],
          ["Origin", m.origin],
          ["Artifact", <code key="u" className="break-all font-mono text-xs">{m.artifactUri}</code>],
          ["Catalog sha256", <Digest key="d" value={m.catalogSha256} label="Catalog sha256" />],
          ["Verification", <ArtifactBadge key="b" status={m.artifactStatus} />],
        ]}
      />
      <h3 className="mb-2 mt-4 text-sm font-semibold text-slate-700">Checked by the driver before each replica started</h3>
      {m.replicas.length === 0 ? (
        <EmptyState title="No replica yet">The driver checks the artifact when it starts the first replica.</EmptyState>
      ) : (
        <Table caption="Artifact checks per replica" head={["Replica", "Check", "sha256 of the file", "Checked", "Note"]}>
          {m.replicas.map((r) => (
            <tr key={r.id} data-testid="replica-artifact">
              <Td>
                #{r.ordinal} <span className="text-xs text-slate-500">rev. {r.revision} · {r.state}</span>
              </Td>
              <Td>
                <ArtifactBadge status={r.status} />
              </Td>
              <Td className="max-w-xs whitespace-normal">
                <Digest value={r.sha256} label={`sha256 of replica ${r.ordinal}`} />
              </Td>
              <Td className="text-xs">{r.checkedAt ? `${formatDateTime(r.checkedAt)}${r.checkedBy ? ` · ${r.checkedBy}` : ""}` : "—"}</Td>
              <Td className="max-w-sm whitespace-normal text-xs text-slate-600">{r.note ?? ""}</Td>
            </tr>
          ))}
        </Table>
      )}
    </Card>
  );
}

function ResidencySection({ e }: { e: Evidence }) {
  const v = e.residency;
  return (
    <Card title="Data class and residency">
      <Facts
        items={[
          ["Data class", dataClassLabel(v.dataClassification)],
          ["Policy", v.policy === "applied" ? "The organisation's residency policy for this class" : "No policy for this class"],
          ["Verdict", <Badge key="v" tone={v.status === "compliant" ? "good" : "bad"}>{v.status === "compliant" ? "Compliant" : "Not compliant"}</Badge>],
        ]}
      />
      {v.reasons.length > 0 && (
        <ul className="mt-3 list-disc space-y-1 pl-5 text-sm text-red-800">
          {v.reasons.map((reason) => (
            <li key={reason}>{reason}</li>
          ))}
        </ul>
      )}
    </Card>
  );
}

function GuardrailsSection({ e }: { e: Evidence }) {
  const { policy, verdicts } = e.guardrails;
  const byRule = new Map(verdicts.rules.map((r) => [r.rule, r]));
  return (
    <Card title="Guardrails">
      {!policy ? (
        <p className="text-sm text-slate-600">The deployment is deleted: no guardrail policy is in force any more.</p>
      ) : (
        <Table caption="Guardrail rules in force, with 30 days of verdicts" head={["Rule", "Action", "Decided by", "Checked", "Flagged", "Redacted", "Blocked", "Errors"]}>
          {(Object.keys(policy.rules) as (keyof typeof policy.rules)[]).map((rule) => {
            const c = byRule.get(rule);
            return (
              <tr key={rule}>
                <Td>{RULE_LABELS[rule] ?? rule}</Td>
                <Td>
                  <Badge tone={policy.rules[rule] === "off" ? "neutral" : "info"}>{policy.rules[rule]}</Badge>
                </Td>
                <Td className="text-xs text-slate-600">{policy.sources[rule]}</Td>
                {(["checked", "flagged", "redacted", "blocked", "errors"] as const).map((k) => (
                  <Td key={k} className="tabular-nums">
                    {formatNumber(c?.[k] ?? 0)}
                  </Td>
                ))}
              </tr>
            );
          })}
        </Table>
      )}
      <p className="mt-2 text-xs text-slate-500">
        Verdicts from {formatDate(verdicts.from)} to now: {formatNumber(verdicts.totals.checked)} checked, {formatNumber(verdicts.totals.failed)} found something.
      </p>
    </Card>
  );
}

function AuditSection({ e }: { e: Evidence }) {
  const { checkpoint, events } = e.audit;
  return (
    <Card title="Audit events and inclusion proofs">
      {checkpoint ? (
        <Facts
          items={[
            ["Latest checkpoint", `${formatNumber(checkpoint.treeSize)} events, signed ${formatDateTime(checkpoint.time)}`],
            ["Root hash", <Digest key="r" value={checkpoint.rootHash} label="Checkpoint root hash" />],
            ["Witness", checkpoint.witnessedAt ? `cosigned ${formatDateTime(checkpoint.witnessedAt)}` : "not witnessed"],
          ]}
        />
      ) : (
        <p className="text-sm text-slate-600">No checkpoint has been signed yet: the events below have no inclusion proof until the first one.</p>
      )}
      {events.length === 0 ? (
        <p className="mt-3 text-sm text-slate-600">No audit event names this deployment.</p>
      ) : (
        <div className="mt-4">
          <Table caption="Audit events of the deployment" head={["#", "Event", "By", "When", "Event hash", "Proof"]}>
            {events.map((ev) => (
              <tr key={ev.seq}>
                <Td className="tabular-nums">{ev.seq}</Td>
                <Td className="font-mono text-xs">{ev.action}</Td>
                <Td className="text-xs">{ev.actorLabel}</Td>
                <Td className="text-xs">{formatDateTime(ev.createdAt)}</Td>
                <Td>
                  <code className="font-mono text-xs" title={ev.hash}>
                    {ev.hash.slice(0, 16)}…
                  </code>
                </Td>
                <Td>
                  {ev.proof ? (
                    <Badge tone="good">Included ({ev.proof.path.length} hashes)</Badge>
                  ) : (
                    <Badge tone="neutral">After the checkpoint</Badge>
                  )}
                </Td>
              </tr>
            ))}
          </Table>
          {e.audit.truncated && <p className="mt-2 text-xs text-slate-500">Only the newest 500 events are listed.</p>}
        </div>
      )}
    </Card>
  );
}
