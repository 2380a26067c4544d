import { describe, expect, it } from "vitest";
import { autoscalingPolicyInput, recommendReplicas, stabilise } from "@/lib/autoscaling";

const base = { current: 1, inFlight: 0, queued: 0, target: 4, min: 0, max: 5, idle: false };

describe("recommendReplicas", () => {
  it("is ceil(load / target) within the bounds, held requests counting as load", () => {
    expect(recommendReplicas({ ...base, inFlight: 11.2 })).toBe(3);
    expect(recommendReplicas({ ...base, inFlight: 8 })).toBe(2);
    expect(recommendReplicas({ ...base, inFlight: 7, queued: 2 })).toBe(3);
    expect(recommendReplicas({ ...base, inFlight: 400 })).toBe(5);
    expect(recommendReplicas({ ...base, min: 2 })).toBe(2);
  });

  it("with min 0 keeps the last replica until idle, wakes from zero only for held requests", () => {
    expect(recommendReplicas({ ...base })).toBe(1);
    expect(recommendReplicas({ ...base, idle: true })).toBe(0);
    expect(recommendReplicas({ ...base, current: 0 })).toBe(0);
    expect(recommendReplicas({ ...base, current: 0, queued: 1, idle: true })).toBe(1);
  });
});

describe("stabilise", () => {
  it("scales up to the window's minimum and down to its maximum", () => {
    expect(stabilise(1, [3, 2, 4], [3])).toBe(2);
    expect(stabilise(1, [3, 1], [3])).toBe(1);
    expect(stabilise(4, [1], [1, 3, 2])).toBe(3);
    expect(stabilise(4, [1], [5, 4])).toBe(4);
  });
});

describe("the policy input", () => {
  const ok = { deploymentId: "d", enabled: true, minReplicas: 0, maxReplicas: 2, targetInFlight: 4, scaleUpWindowSeconds: 0, scaleDownWindowSeconds: 60, idleTimeoutSeconds: 60 };
  it("says what is wrong", () => {
    expect(autoscalingPolicyInput.safeParse(ok).success).toBe(true);
    expect(autoscalingPolicyInput.safeParse({ ...ok, minReplicas: 3 }).error?.issues[0]).toMatchObject({ path: ["minReplicas"], message: "Minimum replicas cannot exceed the maximum" });
    expect(autoscalingPolicyInput.safeParse({ ...ok, idleTimeoutSeconds: 0 }).error?.issues[0].message).toBe("Idle timeout must be at least 1 s");
    expect(autoscalingPolicyInput.safeParse({ ...ok, scaleUpWindowSeconds: 1.5 }).error?.issues[0].message).toBe("Scale-up window must be a whole number of seconds");
  });
});
