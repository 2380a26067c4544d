/**
 * How the console names a deployment's state (components/deployments/phase.tsx): a deployment that
 * autoscaling took to zero (desired RUNNING, phase STOPPED) is "scaled to zero", settled, and not a
 * stop; a stop asked for is "stopped" and not settled until the workers have caught up.
 */
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { isScaledToZero, isSettled, PhaseBadge } from "@/components/deployments/phase";

const badge = (props: Parameters<typeof PhaseBadge>[0]) => renderToStaticMarkup(createElement(PhaseBadge, props)).replace(/<[^>]+>/g, "");

describe("a deployment's state in the console", () => {
  it("is 'scaled to zero' when it should run and autoscaling left it no replica, and that is settled", () => {
    const d = { phase: "STOPPED", desiredState: "RUNNING" } as const;
    expect(isScaledToZero(d)).toBe(true);
    expect(isSettled(d)).toBe(true);
    expect(badge(d)).toBe("scaled to zero");
  });

  it("is 'stopped' when a stop was asked for, and a stop under way is not settled", () => {
    expect(isScaledToZero({ phase: "STOPPED", desiredState: "STOPPED" })).toBe(false);
    expect(badge({ phase: "STOPPED", desiredState: "STOPPED" })).toBe("STOPPED");
    expect(isSettled({ phase: "RUNNING", desiredState: "STOPPED" })).toBe(false);
    expect(isScaledToZero({ phase: "STOPPING", desiredState: "RUNNING" })).toBe(false);
    // Without the desired state (the phase alone), the badge says the phase.
    expect(badge({ phase: "STOPPED" })).toBe("STOPPED");
  });
});
