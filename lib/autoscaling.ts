/**
 * Autoscaling's vocabulary (docs/autoscaling.md): the policy's ranges, defaults and input schema,
 * shared by the API's edge and the console's policy editor.
 */
import { z } from "./zod";
import { REPLICA_LIMIT } from "./limits";

export const AUTOSCALING_LIMITS = {
  targetInFlight: { min: 0.5, max: 1000 },
  // Seconds. Small values are allowed on purpose: tests and bursty workloads use them.
  scaleUpWindowSeconds: { min: 0, max: 3600 },
  scaleDownWindowSeconds: { min: 0, max: 3600 },
  idleTimeoutSeconds: { min: 1, max: 86_400 },
} as const;

export const AUTOSCALING_DEFAULTS = { targetInFlight: 4, scaleUpWindowSeconds: 0, scaleDownWindowSeconds: 300, idleTimeoutSeconds: 900 } as const;

/** How far back the chart and the GPU-hours saved look. */
export const AUTOSCALING_PERIODS_HOURS = [1, 6, 24, 168] as const;

/** NOTIFY channel (payload: a deployment id): a policy changed or a gateway holds requests at zero; the autoscaler looks now. */
export const AUTOSCALE_CHANNEL = "enclave_autoscale";

/** The gateway's cold-start hold (docs/autoscaling.md, "Scale from zero"). */
export const COLD_START = { defaultTimeoutSeconds: 60, maxTimeoutSeconds: 300, header: "x-enclave-cold-start-timeout" } as const;

const seconds = (what: string, range: { min: number; max: number }) =>
  z
    .number({ message: `${what} must be a number` })
    .int(`${what} must be a whole number of seconds`)
    .min(range.min, `${what} must be at least ${range.min} s`)
    .max(range.max, `${what} must be at most ${range.max} s`);

export const autoscalingPolicyInput = z
  .object({
    deploymentId: z.string().min(1, "deploymentId is required").max(64, "deploymentId is too long"),
    enabled: z.boolean({ message: "Enabled must be true or false" }),
    minReplicas: z
      .number({ message: "Minimum replicas must be a number" })
      .int("Minimum replicas must be a whole number")
      .min(0, "Minimum replicas must be at least 0")
      .max(REPLICA_LIMIT, `Minimum replicas must be at most ${REPLICA_LIMIT}`),
    maxReplicas: z
      .number({ message: "Maximum replicas must be a number" })
      .int("Maximum replicas must be a whole number")
      .min(1, "Maximum replicas must be at least 1")
      .max(REPLICA_LIMIT, `Maximum replicas must be at most ${REPLICA_LIMIT}`),
    targetInFlight: z
      .number({ message: "Target in-flight requests per replica must be a number" })
      .min(AUTOSCALING_LIMITS.targetInFlight.min, `Target in-flight requests per replica must be at least ${AUTOSCALING_LIMITS.targetInFlight.min}`)
      .max(AUTOSCALING_LIMITS.targetInFlight.max, `Target in-flight requests per replica must be at most ${AUTOSCALING_LIMITS.targetInFlight.max}`),
    scaleUpWindowSeconds: seconds("Scale-up window", AUTOSCALING_LIMITS.scaleUpWindowSeconds),
    scaleDownWindowSeconds: seconds("Scale-down window", AUTOSCALING_LIMITS.scaleDownWindowSeconds),
    idleTimeoutSeconds: seconds("Idle timeout", AUTOSCALING_LIMITS.idleTimeoutSeconds),
  })
  .refine((p) => p.minReplicas <= p.maxReplicas, { message: "Minimum replicas cannot exceed the maximum", path: ["minReplicas"] });

export type AutoscalingPolicyInput = z.infer<typeof autoscalingPolicyInput>;

/**
 * The replicas the signal asks for, before stabilisation: ceil(load / target) within the bounds.
 * Held requests count as load and never recommend zero; with min 0 the last replica stays until the
 * deployment has been idle for the idle timeout.
 */
export function recommendReplicas(input: { current: number; inFlight: number; queued: number; target: number; min: number; max: number; idle: boolean }): number {
  const load = input.inFlight + input.queued;
  const raw = Math.ceil(load / input.target - 1e-9);
  // At zero, only load wakes it; above zero, only the idle timeout takes the last replica away.
  const floor = input.min > 0 ? input.min : input.queued > 0 ? 1 : input.current === 0 || input.idle ? 0 : 1;
  return Math.max(floor, Math.min(input.max, raw));
}

/**
 * Kubernetes-HPA-style stabilisation over the recommendations of the windows: scale up only to what
 * every recommendation of the scale-up window allowed (their minimum), down only to their maximum over
 * the scale-down window. `upWindow`/`downWindow` include the current recommendation.
 */
export function stabilise(current: number, upWindow: readonly number[], downWindow: readonly number[]): number {
  const up = Math.min(...upWindow);
  if (up > current) return up;
  const down = Math.max(...downWindow);
  if (down < current) return down;
  return current;
}
