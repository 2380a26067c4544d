/** Output schemas of the starter quota (admin) and the onboarding checklist (organisation); docs/onboarding.md. */
import { z } from "zod";
import { RegionStatus } from "../../generated/prisma/enums";
import { dateTime } from "./common";
import { gpuTypeRef, regionRef } from "./tenant";

const count = z.number().int();

export const starterQuotaOutput = z.object({
  entries: z.array(
    z.object({
      region: regionRef.extend({ status: z.enum(RegionStatus) }),
      gpuType: gpuTypeRef,
      limitGpus: count,
      updatedAt: dateTime,
    }),
  ),
});

const step = z.enum(["todo", "in_progress", "done"]);

export const onboardingOutput = z.object({
  steps: z.object({
    deploy: step.meta({ description: "in_progress: a deployment exists but none runs yet" }),
    apiKey: step,
    call: step.meta({ description: "done once a successful request through the gateway was recorded" }),
    usage: step.meta({ description: "done once the usage figures count a request" }),
  }),
  complete: z.boolean(),
  runningDeployment: z.object({ id: z.string(), name: z.string() }).nullable(),
  deployableNow: z.array(z.object({ region: z.object({ code: z.string(), name: z.string() }), gpuType: z.object({ code: z.string(), name: z.string() }), freeGpus: count })),
});
