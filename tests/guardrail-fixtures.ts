/**
 * Guardrail test parts: a scripted OpenAI-compatible upstream (it answers each request with the
 * completion a test scripted for its `x-request-id`, JSON or SSE, and records the body it got),
 * a stand-in groundedness judge over HTTP (named as such: a word-overlap score, not a model), the
 * policy rows the console writes (with their NOTIFY), and a raw SSE reader.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { db } from "@/server/db";
import { GATEWAY_CHANNELS } from "@/server/services/channels";
import type { GuardrailAction, GuardrailRule } from "@/server/guardrails/types";

export interface ScriptedAnswer {
  content: string;
  finishReason?: "stop" | "length";
  /** Streamed: these deltas in this order (default: the content in pieces of 7 characters). */
  chunks?: string[];
  /** Milliseconds between streamed deltas. */
  delayMs?: number;
  usage?: { prompt_tokens: number; completion_tokens: number };
}

export interface ScriptedUpstream {
  url: string;
  /** Bodies received, by x-request-id (the last one for each id). */
  received: Map<string, Record<string, unknown>>;
  /** Requests received so far, every id. */
  count(): number;
  script(requestId: string, answer: ScriptedAnswer): void;
  close(): Promise<void>;
}

/** An upstream that answers each request with its scripted answer (or "Bonjour." when none), JSON or SSE as asked. */
export async function startScriptedUpstream(model = "scripted"): Promise<ScriptedUpstream> {
  const scripts = new Map<string, ScriptedAnswer>();
  const received = new Map<string, Record<string, unknown>>();
  let count = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      count++;
      const id = String(req.headers["x-request-id"] ?? "");
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        // recorded as {}
      }
      received.set(id, body);
      const answer = scripts.get(id) ?? { content: "Bonjour." };
      const usage = { ...(answer.usage ?? { prompt_tokens: 7, completion_tokens: 3 }), total_tokens: 0 };
      usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
      const finish = answer.finishReason ?? "stop";
      const chat = req.url === "/v1/chat/completions";
      if (body.stream !== true) {
        const choice = chat
          ? { index: 0, message: { role: "assistant", content: answer.content, refusal: null }, logprobs: null, finish_reason: finish }
          : { index: 0, text: answer.content, logprobs: null, finish_reason: finish };
        const json = Buffer.from(JSON.stringify({ id: "cmpl-scripted", object: chat ? "chat.completion" : "text_completion", created: 1_700_000_000, model, choices: [choice], usage }));
        res.writeHead(200, { "content-type": "application/json", "content-length": json.length });
        res.end(json);
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const deltas = answer.chunks ?? (answer.content.match(/[\s\S]{1,7}/g) ?? []);
      const event = (delta: Record<string, unknown>, finishReason: string | null) =>
        `data: ${JSON.stringify({ id: "chatcmpl-scripted", object: "chat.completion.chunk", created: 1_700_000_000, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] })}\n\n`;
      const events = [event({ role: "assistant", content: "" }, null), ...deltas.map((d) => event({ content: d }, null)), event({}, finish)];
      const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
      if (includeUsage) events.push(`data: ${JSON.stringify({ id: "chatcmpl-scripted", object: "chat.completion.chunk", created: 1_700_000_000, model, choices: [], usage })}\n\n`);
      events.push("data: [DONE]\n\n");
      let i = 0;
      const next = () => {
        if (res.destroyed) return;
        if (i >= events.length) return res.end();
        res.write(events[i++]);
        if (answer.delayMs) setTimeout(next, answer.delayMs);
        else next();
      };
      next();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    count: () => count,
    script: (requestId, answer) => void scripts.set(requestId, answer),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A stand-in groundedness judge (not a model): it scores an answer by the share of its words of
 * four letters or more that appear in the sources. Serves the HTTP verifier contract of
 * docs/guardrails.md; `fail` makes it answer 500.
 */
export async function startStandInJudge(): Promise<{ url: string; calls: () => number; fail: (on: boolean) => void; close(): Promise<void> }> {
  let calls = 0;
  let failing = false;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      calls++;
      if (failing) {
        res.writeHead(500, { "content-type": "application/json" });
        return res.end('{"error":"stand-in failure"}');
      }
      const { sources, answer } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { sources: { text: string }[]; answer: string };
      const known = new Set(sources.flatMap((s) => s.text.toLowerCase().match(/\p{L}{4,}/gu) ?? []));
      const words = answer.toLowerCase().match(/\p{L}{4,}/gu) ?? [];
      const score = words.length === 0 ? 1 : words.filter((w) => known.has(w)).length / words.length;
      const body = JSON.stringify({ score, unsupported: [] });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls: () => calls,
    fail: (on) => void (failing = on),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type Rules = Partial<Record<GuardrailRule, GuardrailAction>>;

/** An API key's override, as the console writes it (upsert, then NOTIFY the organisation). */
export async function setKeyGuardrails(orgId: string, apiKeyId: string, rules: Rules) {
  await db.guardrailPolicy.upsert({ where: { apiKeyId }, create: { orgId, apiKeyId, rules }, update: { rules } });
  await notifyGuardrails(orgId);
}

/** The organisation's defaults (every rule), its PII types, judge and threshold. */
export async function setOrgGuardrails(orgId: string, defaults: { rules: Record<GuardrailRule, GuardrailAction>; judge?: unknown; groundedThreshold?: number | null; piiTypes?: string[] }) {
  const data = { rules: defaults.rules, judge: (defaults.judge ?? undefined) as object | undefined, groundedThreshold: defaults.groundedThreshold ?? null, piiTypes: defaults.piiTypes ?? [] };
  const existing = await db.guardrailPolicy.findFirst({ where: { orgId, deploymentId: null, apiKeyId: null } });
  if (existing) await db.guardrailPolicy.update({ where: { id: existing.id }, data });
  else await db.guardrailPolicy.create({ data: { orgId, ...data } });
  await notifyGuardrails(orgId);
}

export async function notifyGuardrails(orgId: string) {
  await db.$executeRaw`SELECT pg_notify(${GATEWAY_CHANNELS.guardrails}, ${orgId})`;
}

/** An SSE body split into its `data:` payloads (JSON parsed when it is JSON). */
export function sseEvents(text: string): (Record<string, unknown> | "[DONE]")[] {
  const out: (Record<string, unknown> | "[DONE]")[] = [];
  for (const block of text.split(/\n\n/)) {
    for (const line of block.split("\n")) {
      if (!line.startsWith("data:")) continue;
      const payload = line.slice(5).trim();
      if (payload === "[DONE]") out.push("[DONE]");
      else if (payload) out.push(JSON.parse(payload));
    }
  }
  return out;
}

/** The content deltas of a chat completion stream, joined. */
export function streamedContent(events: ReturnType<typeof sseEvents>): string {
  let out = "";
  for (const e of events) {
    if (e === "[DONE]") continue;
    for (const c of (e.choices as { delta?: { content?: string } }[] | undefined) ?? []) out += c.delta?.content ?? "";
  }
  return out;
}
