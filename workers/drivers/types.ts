/**
 * The one interface every cluster driver implements (local processes, Slurm's REST API,
 * Kubernetes). Drivers know clusters, not tenants' business: they receive a replica to run and
 * report what the cluster really has; the reconcile job decides what should exist.
 *
 * Every cluster object a driver creates is named and labelled with the replica id, which the
 * database row owns before the object exists. So `apply` is idempotent (an existing replica is left
 * alone), a worker killed between "create" and "record" finds the object again through `observe`,
 * and the orphan collector can tell which objects no replica row owns.
 */

import type { ArtifactCheck } from "./artifact";

export type DriverKind = "local" | "slurm" | "kubernetes";

export interface ReplicaSpec {
  /** Stable id of the DeploymentReplica row; the cluster object's name/label. */
  replicaId: string;
  deploymentId: string;
  /** Name programs use as `model` (the deployment's name). */
  servedModelName: string;
  /** Non-secret tenant handle for cluster namespacing (the organisation's slug). */
  tenant: string;
  revision: number;
  model: {
    slug: string;
    /** `local://tiny-random-llama`, `file:///abs/path/model.gguf`, `hf://…`, `s3://…` */
    artifactUri: string;
    artifactSha256: string;
    runtime: "LLAMA_CPP" | "VLLM" | "TGI";
    contextLength: number;
  };
  gpu: { type: string; count: number };
}

export type ReplicaPhase = "pending" | "starting" | "ready" | "failed" | "stopped";

export interface ObservedReplica {
  replicaId: string;
  deploymentId: string;
  revision: number;
  /** The driver's own handle: a pid, a Slurm job id, a Kubernetes object name. */
  clusterRef: string;
  phase: ReplicaPhase;
  /** Base URL of the OpenAI-compatible server (…/v1 is appended by callers), once known. */
  endpoint?: string;
  /** Why it is not ready, in the cluster's words (e.g. Slurm's reason, a crash message). */
  message?: string;
  startedAt?: Date;
  /** The artifact's sha256 check before the replica started (workers/drivers/artifact.ts), when the driver knows it. */
  artifact?: ArtifactCheck;
}

export interface GpuCapacity {
  gpuType: string;
  total: number;
  free: number;
}

export interface ClusterDriver {
  readonly kind: DriverKind;
  /** Makes the replica exist (idempotent: an existing replica with this id is left as it is). */
  apply(spec: ReplicaSpec): Promise<ObservedReplica>;
  /** Every replica this driver has on the cluster, optionally only one deployment's. */
  observe(filter?: { deploymentId?: string }): Promise<ObservedReplica[]>;
  /** Removes the replica and its cluster resources; an unknown id is not an error. */
  delete(replicaId: string): Promise<void>;
  /** What the cluster reports it can still run. */
  capacity(): Promise<GpuCapacity[]>;
}

/** A driver failure meant for the deployment's conditions: `message` is safe to show the tenant. */
export class DriverError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = "DriverError";
  }
}
