"use client";
import { toast } from "sonner";
import { formatDateTime, formatNumber } from "../format";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { CopyButton } from "../ui/copy-button";
import { Badge, Card } from "../ui/layout";
import { QueryView } from "../ui/states";

type Status = RouterOutputs["audit"]["checkpoint"];
type Checkpoint = NonNullable<Status["latest"]>;

/**
 * The audit log's signed checkpoints, live (docs/audit-log.md): the latest (size, root, time),
 * the last one the witness cosigned, and "Sign a checkpoint now" for those allowed.
 *
 * Props: `orgId` — the organisation whose log to show, or null for the platform's log (platform
 * admins); `canSign` — show the sign button (Admins and Owners; platform admins for the platform).
 */
export function AuditCheckpointCard({ orgId, canSign }: { orgId: string | null; canSign: boolean }) {
  const utils = api.useUtils();
  const orgQuery = api.audit.checkpoint.useQuery({ orgId: orgId ?? "" }, { enabled: orgId !== null });
  const platformQuery = api.audit.platformCheckpoint.useQuery({}, { enabled: orgId === null });
  const query = orgId !== null ? orgQuery : platformQuery;
  const onSuccess = async (cp: Checkpoint) => {
    toast.success(`Checkpoint signed at tree size ${formatNumber(cp.treeSize)}${cp.witnessError ? ` (not witnessed: ${cp.witnessError})` : ""}`);
    await Promise.all([utils.audit.checkpoint.invalidate(), utils.audit.platformCheckpoint.invalidate()]);
  };
  const onError = (e: { message: string }) => toast.error(e.message);
  const signOrg = api.audit.signCheckpoint.useMutation({ onSuccess, onError });
  const signPlatform = api.audit.signPlatformCheckpoint.useMutation({ onSuccess, onError });
  const signing = signOrg.isPending || signPlatform.isPending;
  const sign = () => (orgId !== null ? signOrg.mutate({ orgId }) : signPlatform.mutate({}));

  return (
    <Card title="Signed audit checkpoints">
      <QueryView query={query}>
        {(status) => (
          <div className="space-y-3 text-sm" data-testid="audit-checkpoints">
            <dl className="space-y-3">
              <div>
                <dt className="text-xs font-medium uppercase tracking-wide text-slate-500">Latest checkpoint</dt>
                <dd className="mt-0.5 min-w-0">
                  {status.latest ? (
                    <CheckpointLine cp={status.latest} events={status.events} />
                  ) : (
                    <span className="text-slate-600">None yet: the installation signs one every few minutes once the log has events.</span>
                  )}
                </dd>
              </div>
              <div>
                <dt className="text-xs font-medium uppercase tracking-wide text-slate-500">Last witnessed</dt>
                <dd className="mt-0.5 text-slate-700" data-testid="audit-last-witnessed">
                  {status.lastWitnessed ? (
                    <>
                      <Badge tone="good">Cosigned</Badge> tree size {formatNumber(status.lastWitnessed.treeSize)}
                      {status.lastWitnessed.witnessedAt ? `, ${formatDateTime(status.lastWitnessed.witnessedAt)}` : ""}
                    </>
                  ) : status.witnessConfigured ? (
                    <span>Not yet{status.latest?.witnessError ? `: ${status.latest.witnessError}` : ""}.</span>
                  ) : (
                    <span className="text-slate-600">No external witness is configured for this installation.</span>
                  )}
                </dd>
              </div>
              <div>
                <dt className="text-xs font-medium uppercase tracking-wide text-slate-500">Verifier key</dt>
                <dd className="mt-0.5 flex min-w-0 items-center gap-2">
                  <code className="min-w-0 truncate font-mono text-xs text-slate-600" title={status.verifierKey}>
                    {status.verifierKey}
                  </code>
                  <CopyButton text={status.verifierKey} label="Copy verifier key" />
                </dd>
              </div>
            </dl>
            {canSign && (
              <Button variant="secondary" onClick={sign} loading={signing}>
                Sign a checkpoint now
              </Button>
            )}
          </div>
        )}
      </QueryView>
    </Card>
  );
}

function CheckpointLine({ cp, events }: { cp: Checkpoint; events: number }) {
  return (
    <>
      <span className="text-slate-700">
        Tree size <strong className="tabular-nums">{formatNumber(cp.treeSize)}</strong> of {formatNumber(events)} events, signed {formatDateTime(cp.time)}
      </span>
      <span className="mt-1 flex items-center gap-2">
        <code className="min-w-0 truncate font-mono text-xs text-slate-600" title={cp.rootHash} data-testid="audit-checkpoint-root">
          {cp.rootHash}
        </code>
        <CopyButton text={cp.note} label="Copy signed note" />
      </span>
    </>
  );
}
