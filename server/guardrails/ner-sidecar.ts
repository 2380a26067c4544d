/**
 * Person names from an operator's named-entity recogniser (docs/guardrails.md, "Personal data"):
 * `POST <url>` with `{"text", "language"?}` answers `{"entities": [{"type", "start", "end", "score"}]}`.
 * The installation points GUARDRAILS_NER_URL at it (GUARDRAILS_NER_TIMEOUT_MS, default 500).
 * Errors never carry the text sent nor the sidecar's answer: only what went wrong.
 */

import { z } from "zod";
import type { PiiFinding } from "./types";

export const DEFAULT_NER_TIMEOUT_MS = 500;

const nerResponse = z.object({
  entities: z.array(
    z.object({
      type: z.string(),
      start: z.number().int().nonnegative(),
      end: z.number().int().nonnegative(),
      score: z.number().min(0).max(1),
    }),
  ),
});

export class NerSidecarError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NerSidecarError";
  }
}

/** PERSON findings (UTF-16 offsets into `text`, sorted by start, non-overlapping) from the sidecar at `url`. */
export async function detectPersons(
  text: string,
  options: { url: string; timeoutMs?: number; signal?: AbortSignal; language?: string },
): Promise<PiiFinding[]> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_NER_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await fetch(options.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(options.language ? { text, language: options.language } : { text }),
      signal,
    });
  } catch {
    if (timeout.aborted) throw new NerSidecarError(`NER sidecar did not answer within ${timeoutMs} ms`);
    if (options.signal?.aborted) throw new NerSidecarError("NER sidecar request aborted");
    throw new NerSidecarError("NER sidecar unreachable");
  }
  let body: unknown;
  try {
    if (!response.ok) throw new NerSidecarError(`NER sidecar answered HTTP ${response.status}`);
    body = await response.json();
  } catch (error) {
    await response.body?.cancel().catch(() => {});
    if (error instanceof NerSidecarError) throw error;
    if (timeout.aborted) throw new NerSidecarError(`NER sidecar did not answer within ${timeoutMs} ms`);
    throw new NerSidecarError("NER sidecar answered with invalid JSON");
  }
  const parsed = nerResponse.safeParse(body);
  if (!parsed.success) throw new NerSidecarError("NER sidecar answer does not match the contract");
  const persons = parsed.data.entities
    .filter((e) => e.type === "PERSON" && e.start < e.end && e.end <= text.length)
    .sort((a, b) => a.start - b.start || b.end - a.end);
  const findings: PiiFinding[] = [];
  for (const e of persons) {
    const last = findings.at(-1);
    if (last && e.start < last.end) continue; // overlapping spans: keep the first
    findings.push({ type: "PERSON", start: e.start, end: e.end, score: e.score });
  }
  return findings;
}

/** The sidecar configured for this installation, or null (GUARDRAILS_NER_URL unset). */
export function nerSidecarFromEnv(env: Record<string, string | undefined> = process.env): { url: string; timeoutMs: number } | null {
  const url = env.GUARDRAILS_NER_URL?.trim();
  if (!url) return null;
  const timeoutMs = env.GUARDRAILS_NER_TIMEOUT_MS ? Number(env.GUARDRAILS_NER_TIMEOUT_MS) : DEFAULT_NER_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new Error("GUARDRAILS_NER_TIMEOUT_MS must be a positive integer (milliseconds)");
  return { url, timeoutMs };
}
