"use client";
import { formatDateTime, formatNumber } from "../format";
import { Badge, Card } from "../ui/layout";
import type { Overview } from "./dashboard";

/**
 * Audit integrity from the compliance overview: the hash chain's last verification (the hourly
 * job's, or run for this answer when none is stored). The signed checkpoints, the witness and
 * "Sign now" are the audit log's own card (components/audit/audit-integrity.tsx), placed next to it.
 */
export function AuditIntegrityCard({ audit }: { audit: Overview["audit"] }) {
  const v = audit.verification;
  return (
    <Card title="Audit chain verification">
      <dl className="space-y-2 text-sm" data-testid="compliance-audit">
        <div>
          <dt className="text-xs font-medium uppercase tracking-wide text-slate-500">Last verification</dt>
          <dd className="mt-0.5">
            {v.ok ? <Badge tone="good">Intact</Badge> : <Badge tone="bad">Broken at #{v.brokenAtSeq}</Badge>}{" "}
            <span className="text-slate-700">
              {formatNumber(v.events)} events, {v.source === "stored" ? `checked ${formatDateTime(v.checkedAt)}` : "checked just now (no hourly result stored yet)"}
            </span>
            {!v.ok && v.reason && <p className="text-xs text-red-800">{v.reason}</p>}
          </dd>
        </div>
      </dl>
    </Card>
  );
}
