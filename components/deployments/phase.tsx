import type { DataClassification, DeploymentPhase, DesiredState } from "@/server/generated/prisma/enums";
import { Badge } from "../ui/layout";

export const PHASE_TONES = {
  PENDING: "neutral",
  PROVISIONING: "info",
  RUNNING: "good",
  DEGRADED: "warn",
  STOPPING: "neutral",
  STOPPED: "neutral",
  FAILED: "bad",
  DELETING: "neutral",
  DELETED: "neutral",
} as const satisfies Record<DeploymentPhase, string>;

export const PHASE_EXPLANATIONS: Record<DeploymentPhase, string> = {
  PENDING: "Accepted; waiting for a worker to schedule the replicas.",
  PROVISIONING: "Replicas are being scheduled and the model is loading.",
  RUNNING: "Every replica is ready and serving requests.",
  DEGRADED: "Some replicas are serving, others are not ready or have failed.",
  STOPPING: "Replicas are shutting down; their GPUs are released once they are gone.",
  STOPPED: "No replica is running and no GPU is reserved. Start it again at any time.",
  FAILED: "The replicas could not be brought up. Fix the cause, then retry.",
  DELETING: "Replicas are being removed; the deployment disappears once they are gone.",
  DELETED: "This deployment has been deleted.",
};

/**
 * Autoscaling took it to zero replicas (docs/autoscaling.md): it should run, and nothing runs. The
 * workers report that as phase STOPPED; it is not a stop anyone asked for, and the next request
 * wakes it.
 */
export function isScaledToZero(d: { phase: DeploymentPhase; desiredState: DesiredState }): boolean {
  return d.desiredState === "RUNNING" && d.phase === "STOPPED";
}

export const SCALED_TO_ZERO_EXPLANATION =
  "Autoscaling took it to zero replicas after its idle timeout: no GPU is reserved. The next request wakes it and is held while a replica starts (a cold start).";

/** Nothing more will happen on its own: RUNNING, STOPPED, FAILED (and DELETED, which is final). */
export function isSettledPhase(phase: DeploymentPhase): boolean {
  return phase === "RUNNING" || phase === "STOPPED" || phase === "FAILED" || phase === "DELETED";
}

/** Settled, and the workers have caught up with the last request (a stop just asked for is not settled yet). */
export function isSettled(d: { phase: DeploymentPhase; desiredState: DesiredState }): boolean {
  if (d.phase === "DELETED") return true;
  if (d.desiredState === "DELETED") return false;
  if (d.phase === "FAILED" || isScaledToZero(d)) return true;
  return d.phase === d.desiredState;
}

/**
 * The phase as a badge. The text is the phase's own name (what the API and the workers say),
 * shown in lower case; "scaled to zero" when autoscaling, not a stop, left it with no replica
 * (pass `desiredState` to tell them apart).
 */
export function PhaseBadge({ phase, desiredState, testId }: { phase: DeploymentPhase; desiredState?: DesiredState; testId?: string }) {
  const zero = desiredState !== undefined && isScaledToZero({ phase, desiredState });
  return (
    <span data-testid={testId} className="lowercase">
      <Badge tone={zero ? "info" : PHASE_TONES[phase]}>{zero ? "scaled to zero" : phase}</Badge>
    </span>
  );
}

const REPLICA_STATE_TONES: Record<string, "neutral" | "good" | "warn" | "bad" | "info"> = {
  pending: "neutral",
  starting: "info",
  ready: "good",
  failed: "bad",
  terminating: "warn",
};

export function ReplicaStateBadge({ state }: { state: string }) {
  return <Badge tone={REPLICA_STATE_TONES[state] ?? "neutral"}>{state}</Badge>;
}

export const DATA_CLASSES: readonly { value: DataClassification; label: string; explanation: string }[] = [
  { value: "PUBLIC", label: "Public", explanation: "Published or publishable material; no restriction on where it is processed." },
  { value: "INTERNAL", label: "Internal", explanation: "Day-to-day work documents, not meant to leave the organisation." },
  { value: "CONFIDENTIAL", label: "Confidential", explanation: "Personal, commercial or patient data whose disclosure would cause harm." },
  { value: "RESTRICTED", label: "Restricted", explanation: "The most sensitive data: secrets, health records at scale, matters of national security." },
];

export const dataClassLabel = (value: DataClassification) => DATA_CLASSES.find((c) => c.value === value)?.label ?? value;
