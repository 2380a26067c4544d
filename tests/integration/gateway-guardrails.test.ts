/**
 * Guardrails in the gateway's data plane (docs/guardrails.md, "In the gateway"): a real gateway
 * process (server/gateway/main.ts), real HTTP upstreams that answer scripted completions (JSON and
 * SSE) and record the bodies they got, a real PostgreSQL. Personal data is redacted before the
 * model sees it or refused; answers are checked against the request's JSON schema, for personal
 * data and against the grounding sources, streamed or not; every verdict is in the trace (one
 * `apply_guardrail` span per check), in the usage record, in the metrics and in the summary header
 * or the stream's final event — and nothing the gateway produces holds the personal data sent.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import type { GroundedVerdictFindings, GuardrailVerdict, PiiVerdictFindings, SchemaVerdictFindings, TraceRecord } from "@/server/gateway/trace";
import { storedTraceRecord } from "@/server/services/traces";
import { usageRecordId } from "@/server/gateway/usage-sql";
import { outcomeCode, type GuardrailAction, type GuardrailRule } from "@/server/guardrails/types";
import { createApiKey } from "../deployment-fixtures";
import { registerDeployment, spawnGateway, waitFor, waitForModel, type GatewayProcess } from "../gateway-fixtures";
import { setKeyGuardrails, setOrgGuardrails, sseEvents, startScriptedUpstream, startStandInJudge, streamedContent, type ScriptedUpstream } from "../guardrail-fixtures";
import { createTenant, unique, type Tenant } from "../helpers";

// Personal data, in several formats (French, German, English).
const PII = {
  ibanSpaced: "FR76 3000 6000 0112 3456 7890 189",
  ibanCompact: "DE89370400440532013000",
  email: "claire.dupont@hopital-rive-gauche.fr",
  emailUpper: "Hans.Mueller@Beispiel.DE",
  phoneFr: "+33 6 12 34 56 78",
  phoneDe: "+49 30 901820",
  phoneIntl: "0044 20 7946 0958",
  card: "4111 1111 1111 1111",
};
/** What a scan must never find (digits and separators normalised away too). */
const NEEDLES = [PII.ibanSpaced, PII.ibanCompact, PII.email, PII.emailUpper.toLowerCase(), PII.phoneFr, PII.phoneDe, PII.phoneIntl, PII.card];
const compact = (s: string) => s.replace(/[\s.+\-()]/g, "").toLowerCase();

let spoolRoot: string;
let gw: GatewayProcess;
let a: Tenant;
let judged: Tenant;
let upstream: ScriptedUpstream;
let judgeUpstream: ScriptedUpstream;
let judge: Awaited<ReturnType<typeof startStandInJudge>>;
let model: string;
let judgedModel: string;
let judgeDeploymentId: string;
const keys: Record<string, { key: string; id: string }> = {};

const OFF: Record<GuardrailRule, GuardrailAction> = { "schema.output": "off", "pii.input": "off", "pii.output": "off", "grounded.output": "off" };

beforeAll(async () => {
  spoolRoot = mkdtempSync(path.join(os.tmpdir(), "enclave-gateway-guardrails-"));
  upstream = await startScriptedUpstream();
  judgeUpstream = await startScriptedUpstream("judge");
  judge = await startStandInJudge();
  a = await createTenant("guardrails");
  model = (await registerDeployment(a, [upstream.url])).name;
  // Keys of one organisation without a policy of its own (the defaults), each with its override.
  const overrides: Record<string, Partial<Record<GuardrailRule, GuardrailAction>> | null> = {
    observe: null,
    redact: { "pii.input": "redact", "pii.output": "redact" },
    blockInput: { "pii.input": "block" },
    schemaBlock: { "schema.output": "block" },
    streamBlock: { "pii.output": "block" },
    streamRedact: { "pii.output": "redact" },
    grounded: { "grounded.output": "observe" },
    groundedBlock: { "grounded.output": "block" },
    off: OFF,
  };
  for (const [name, rules] of Object.entries(overrides)) {
    const created = await createApiKey(a.org.id, a.ownerId, { name: `guardrails ${name}` });
    keys[name] = { key: created.key, id: created.row.id };
    if (rules) await setKeyGuardrails(a.org.id, created.row.id, rules);
  }
  // An organisation whose defaults name a judge: an HTTP verifier (the stand-in), then one of its deployments.
  judged = await createTenant("judged");
  judgedModel = (await registerDeployment(judged, [upstream.url])).name;
  const judgeDeployment = await registerDeployment(judged, [judgeUpstream.url]);
  await setOrgGuardrails(judged.org.id, { rules: { ...OFF, "grounded.output": "observe" }, judge: { kind: "http", url: judge.url } });
  const httpJudged = await createApiKey(judged.org.id, judged.ownerId);
  keys.judgedHttp = { key: httpJudged.key, id: httpJudged.row.id };
  judgeDeploymentId = judgeDeployment.id;
  // Policies are in place before the gateway starts: its first load has them.
  gw = await spawnGateway({ spoolDir: path.join(spoolRoot, "gw"), env: { GATEWAY_SPOOL_BATCH_MS: "50", GUARDRAILS_JUDGE_TIMEOUT_MS: "3000" } });
  await waitForModel(gw.url, keys.observe.key, model);
  await waitForModel(gw.url, keys.judgedHttp.key, judgedModel);
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([upstream?.close(), judgeUpstream?.close(), judge?.close()]);
  rmSync(spoolRoot, { recursive: true, force: true });
});

interface Answer {
  status: number;
  text: string;
  json: Record<string, unknown> & { error?: { message: string; type: string; code: string | null; param: string | null } };
  summary: string | null;
  requestId: string;
}

/** POST to the gateway with an x-request-id the upstream's script is keyed by. */
async function call(keyName: string, body: Record<string, unknown>, options: { endpoint?: string; requestId?: string; gateway?: GatewayProcess } = {}): Promise<Answer> {
  const requestId = options.requestId ?? unique("req");
  const res = await fetch(`${(options.gateway ?? gw).url}${options.endpoint ?? "/v1/chat/completions"}`, {
    method: "POST",
    headers: { authorization: `Bearer ${keys[keyName].key}`, "content-type": "application/json", "x-request-id": requestId },
    body: JSON.stringify({ model: body.model ?? model, ...body }),
  });
  const text = await res.text();
  let json = {};
  try {
    json = JSON.parse(text);
  } catch {
    // SSE or not JSON
  }
  return { status: res.status, text, json, summary: res.headers.get("x-enclave-guardrails"), requestId };
}

const chat = (content: string, extra: Record<string, unknown> = {}) => ({ messages: [{ role: "user", content }], max_tokens: 64, ...extra });

/** The stored trace and usage row of a request (by the x-request-id it was sent with). */
async function stored(requestId: string) {
  let row: Awaited<ReturnType<typeof db.trace.findFirst>> = null;
  await waitFor(async () => (row = await db.trace.findFirst({ where: { requestId } })) !== null, 10_000, 50);
  const record = storedTraceRecord(row!) as TraceRecord;
  const usage = await db.usageRecord.findFirst({ where: { id: usageRecordId(record.recordId) } });
  return { record, usage };
}

const verdictOf = (record: TraceRecord, check: string, stage = "output") => record.verdicts?.find((v) => v.check === check && v.stage === stage);
const guardrailSpans = (record: TraceRecord) => record.spans.filter((s) => s.name.startsWith("apply_guardrail"));

const SCHEMA = {
  type: "json_schema",
  json_schema: {
    name: "patient",
    strict: true,
    schema: { type: "object", properties: { name: { type: "string" }, age: { type: "integer", minimum: 0 } }, required: ["name", "age"], additionalProperties: false },
  },
};

describe("the default policy (observe), with no configuration", () => {
  it("records the personal-data verdicts of the prompt and the answer in the trace, the usage record and the header, and changes nothing", async () => {
    const prompt = `Écrivez à ${PII.email} ou appelez le ${PII.phoneFr}.`;
    const r = await call("observe", chat(prompt));
    expect(r.status).toBe(200);
    expect(r.summary).toBe("pii.input=flagged:2; pii.output=pass");
    // Observe changes nothing: the model got the prompt as sent.
    expect((upstream.received.get(r.requestId)!.messages as { content: string }[])[0].content).toBe(prompt);

    const { record, usage } = await stored(r.requestId);
    const input = verdictOf(record, "pii", "input")!;
    expect(input).toMatchObject({ check: "pii", stage: "input", action: "observe", outcome: "flagged" });
    const findings = input.findings as PiiVerdictFindings;
    expect(findings.count).toBe(2);
    expect(findings.types).toEqual({ EMAIL: 1, PHONE: 1 });
    const email = findings.positions.find((p) => p.type === "EMAIL")!;
    expect(prompt.slice(email.start, email.end)).toBe(PII.email);
    expect(email.message).toBe(0);
    expect(verdictOf(record, "pii", "output")).toMatchObject({ action: "observe", outcome: "pass" });

    // One apply_guardrail span per check, in the OpenTelemetry GenAI guardrail conventions.
    const spans = guardrailSpans(record);
    expect(spans.map((s) => [s.name, s.attributes["gen_ai.guardrail.source"]])).toEqual([
      ["apply_guardrail pii", "input"],
      ["apply_guardrail pii", "output"],
    ]);
    const inputSpan = spans[0];
    expect(inputSpan.attributes).toMatchObject({
      "gen_ai.operation.name": "apply_guardrail",
      "gen_ai.guardrail.component.name": "pii",
      "gen_ai.guardrail.policy.id": "pii.input",
      "gen_ai.guardrail.result.value": "flagged",
      "enclave.guardrail.action": "observe",
    });
    const results = inputSpan.events!.filter((e) => e.name === "gen_ai.guardrail.result");
    expect(results.map((e) => e.attributes!["gen_ai.guardrail.risk.category"]).sort()).toEqual(["EMAIL", "PHONE"]);
    // Input checks run before the upstream call, output checks after it.
    const upstreamSpan = record.spans.find((s) => s.name === "upstream")!;
    expect(inputSpan.startMs).toBeLessThanOrEqual(upstreamSpan.startMs);
    expect(spans[1].startMs).toBeGreaterThanOrEqual(upstreamSpan.startMs);

    expect(usage!.guardrails).toEqual([outcomeCode("pii.input", "flagged"), outcomeCode("pii.output", "pass")]);
  });

  it("runs nothing when every rule is off: no verdict, no span, no header, no code", async () => {
    const r = await call("off", chat(`IBAN ${PII.ibanSpaced}`, { response_format: SCHEMA }));
    expect(r.status).toBe(200);
    expect(r.summary).toBeNull();
    const { record, usage } = await stored(r.requestId);
    expect(record.verdicts).toBeUndefined();
    expect(guardrailSpans(record)).toEqual([]);
    expect(usage).not.toBeNull();
    // NULL, not an empty list (Prisma reads both as []).
    const [raw] = await db.$queryRaw<{ none: boolean }[]>`SELECT "guardrails" IS NULL AS none FROM "UsageRecord" WHERE id = ${usage!.id}::uuid`;
    expect(raw.none).toBe(true);
  });
});

describe("personal data in the prompt", () => {
  it("redact: the model sees typed placeholders, never the data; the answer's placeholders continue the prompt's", async () => {
    const prompt = `Virement depuis ${PII.ibanSpaced} (${PII.email}). Rückruf unter ${PII.phoneDe}, nochmals ${PII.email.toUpperCase()}.`;
    const requestId = unique("req");
    upstream.script(requestId, { content: `Je confirme pour ${PII.email} et ${PII.phoneIntl}.` });
    const r = await call("redact", chat(prompt), { requestId });
    expect(r.status).toBe(200);
    const sent = (upstream.received.get(requestId)!.messages as { content: string }[])[0].content;
    expect(sent).toBe("Virement depuis [IBAN_1] ([EMAIL_1]). Rückruf unter [PHONE_1], nochmals [EMAIL_1].");
    // The same e-mail in the answer is the same placeholder; a new number is the next one.
    const content = (r.json.choices as { message: { content: string } }[])[0].message.content;
    expect(content).toBe("Je confirme pour [EMAIL_1] et [PHONE_2].");
    expect(r.summary).toBe("pii.input=redacted:4; pii.output=redacted:2");
    const { record, usage } = await stored(requestId);
    expect(verdictOf(record, "pii", "input")).toMatchObject({ outcome: "redacted", findings: { count: 4, types: { IBAN: 1, EMAIL: 2, PHONE: 1 } } });
    expect(usage!.guardrails).toEqual([outcomeCode("pii.input", "redacted"), outcomeCode("pii.output", "redacted")]);
  });

  it("block: 400 guardrail_blocked naming the types found, never the values; the model is not called; the verdict is metered", async () => {
    const before = upstream.count();
    const r = await call("blockInput", { messages: [{ role: "system", content: "Assistant RH." }, { role: "user", content: [{ type: "text", text: `Carte ${PII.card}, IBAN ${PII.ibanCompact}` }] }] });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ type: "invalid_request_error", code: "guardrail_blocked", param: "messages" });
    expect(r.json.error!.message).toContain("IBAN");
    expect(r.json.error!.message).toContain("PAYMENT_CARD");
    for (const needle of [PII.card, PII.ibanCompact]) expect(compact(r.text)).not.toContain(compact(needle));
    expect(upstream.count()).toBe(before);
    const { record, usage } = await stored(r.requestId);
    expect(record.errorCode).toBe("guardrail_blocked");
    const findings = verdictOf(record, "pii", "input")!.findings as PiiVerdictFindings;
    expect(findings.positions.every((p) => p.message === 1 && p.part === 0)).toBe(true);
    expect(record.spans.map((s) => s.name)).not.toContain("upstream");
    expect(usage).toMatchObject({ status: 400, tokensIn: 0, tokensOut: 0, costMicroEur: 0, guardrails: [outcomeCode("pii.input", "blocked")] });
  });
});

describe("JSON schema of the answer", () => {
  it("observe: a schema-invalid completion is delivered and flagged with its failing paths", async () => {
    const requestId = unique("req");
    upstream.script(requestId, { content: '{"name": "Claire", "age": -3, "ward": "B"}' });
    const r = await call("observe", chat("Un patient, en JSON.", { response_format: SCHEMA }), { requestId });
    expect(r.status).toBe(200);
    expect((r.json.choices as { message: { content: string } }[])[0].message.content).toBe('{"name": "Claire", "age": -3, "ward": "B"}');
    expect(r.summary).toMatch(/^pii\.input=pass; pii\.output=pass; schema=flagged:\d+$/);
    // The request's response_format went to the model unmodified.
    expect(upstream.received.get(requestId)!.response_format).toEqual(SCHEMA);
    const { record, usage } = await stored(requestId);
    const v = verdictOf(record, "schema")!;
    expect(v).toMatchObject({ action: "observe", outcome: "flagged" });
    const findings = v.findings as SchemaVerdictFindings;
    expect(findings.valid).toBe(false);
    expect(findings.errors.map((e) => e.path)).toContain("/age");
    expect(JSON.stringify(findings)).not.toContain("Claire");
    expect(usage!.guardrails).toContain(outcomeCode("schema.output", "flagged"));
  });

  it("block: 422 guardrail_blocked saying the answer failed validation; the call is still billed", async () => {
    const requestId = unique("req");
    upstream.script(requestId, { content: '{"name": 42}', usage: { prompt_tokens: 21, completion_tokens: 5 } });
    const r = await call("schemaBlock", chat("Un patient, en JSON.", { response_format: SCHEMA }), { requestId });
    expect(r.status).toBe(422);
    expect(r.json.error).toMatchObject({ type: "guardrail_error", code: "guardrail_blocked" });
    expect(r.json.error!.message).toMatch(/schema guardrail.*failed validation/);
    expect(r.summary).toMatch(/schema=blocked/);
    const { record, usage } = await stored(requestId);
    expect(verdictOf(record, "schema")).toMatchObject({ action: "block", outcome: "blocked" });
    expect(usage).toMatchObject({ status: 422, tokensIn: 21, tokensOut: 5 });
    expect(usage!.costMicroEur).toBeGreaterThanOrEqual(0);
    expect(usage!.guardrails).toContain(outcomeCode("schema.output", "blocked"));
  });

  it("a truncated answer (finish_reason length) is invalid JSON and says so", async () => {
    const requestId = unique("req");
    upstream.script(requestId, { content: '{"name": "Clai', finishReason: "length" });
    const r = await call("observe", chat("Un patient, en JSON.", { response_format: { type: "json_object" } }), { requestId });
    expect(r.status).toBe(200);
    const { record } = await stored(requestId);
    expect(verdictOf(record, "schema")).toMatchObject({ outcome: "flagged", reason: "truncated", findings: { valid: false, reason: "truncated" } });
  });

  it("an invalid schema in the request is a 400 with the validator's message; so is a malformed grounding field", async () => {
    const before = upstream.count();
    const bad = await call("observe", chat("x", { response_format: { type: "json_schema", json_schema: { name: "bad", schema: { type: "objekt" } } } }));
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ type: "invalid_request_error", code: "invalid_value", param: "response_format" });
    expect(bad.json.error!.message.length).toBeGreaterThan(10);
    const grounding = await call("grounded", chat("x", { grounding: { sources: [{ id: 3, text: "" }] } }));
    expect(grounding.status).toBe(400);
    expect(grounding.json.error).toMatchObject({ code: "invalid_value", param: expect.stringMatching(/^grounding/) });
    expect(upstream.count()).toBe(before);
  });
});

/** A streamed call read raw: its SSE events. */
async function stream(keyName: string, content: string, answer: Parameters<ScriptedUpstream["script"]>[1], extra: Record<string, unknown> = {}) {
  const requestId = unique("req");
  upstream.script(requestId, answer);
  const r = await call(keyName, chat(content, { stream: true, ...extra }), { requestId });
  return { ...r, events: sseEvents(r.text) };
}

describe("streams", () => {
  it("redact: personal data split across chunks is redacted, and the verdict is the last event before [DONE]", async () => {
    const r = await stream("streamRedact", "Mes coordonnées ?", {
      content: "",
      chunks: ["Votre IBAN est FR76 30", "00 6000 0112 34", "56 7890 189 et votre e-mail claire.dup", "ont@hopital-rive-gauche.fr, voilà."],
      delayMs: 5,
    }, { stream_options: { include_usage: true } });
    expect(r.status).toBe(200);
    expect(streamedContent(r.events)).toBe("Votre IBAN est [IBAN_1] et votre e-mail [EMAIL_1], voilà.");
    for (const needle of NEEDLES) expect(compact(r.text)).not.toContain(compact(needle));
    // The verdict event, then the usage chunk (OpenAI documents it as the last one), then [DONE].
    expect(r.events.at(-1)).toBe("[DONE]");
    expect(r.events.at(-2)).toMatchObject({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 3 } });
    const verdict = r.events.at(-3) as { object: string; choices: unknown[]; enclave_guardrails: { summary: string; verdicts: GuardrailVerdict[] } };
    expect(verdict).toMatchObject({ object: "chat.completion.chunk", choices: [] });
    expect(verdict.enclave_guardrails.summary).toBe("pii.input=pass; pii.output=redacted:2");
    const { record, usage } = await stored(r.requestId);
    expect(record.verdicts).toEqual(verdict.enclave_guardrails.verdicts);
    expect(usage).toMatchObject({ status: 200, stream: true });
  });

  it("block: the stream ends with an error event, never a silent success, and nothing of the data is sent", async () => {
    const r = await stream("streamBlock", "Mon IBAN ?", { content: "", chunks: ["Bien sûr. ", "Le voici : DE89 3704 ", "0044 0532 0130 00", " — autre chose ?"], delayMs: 5 });
    expect(r.status).toBe(200);
    expect(r.events).not.toContain("[DONE]");
    const last = r.events.at(-1) as { error: { code: string; type: string; message: string } };
    expect(last.error).toMatchObject({ code: "guardrail_blocked", type: "guardrail_error" });
    expect(last.error.message).toContain("IBAN");
    expect(compact(r.text)).not.toContain(compact(PII.ibanCompact));
    expect(compact(r.text)).not.toContain("3704");
    const { record, usage } = await stored(r.requestId);
    expect(record.errorCode).toBe("guardrail_blocked");
    expect(verdictOf(record, "pii")).toMatchObject({ action: "block", outcome: "blocked", findings: { types: { IBAN: 1 } } });
    expect(usage).toMatchObject({ status: 422, stream: true, guardrails: [outcomeCode("pii.input", "pass"), outcomeCode("pii.output", "blocked")] });
  });

  it("schema and groundedness run on the accumulated text at the end: the verdict event carries them", async () => {
    const r = await stream("grounded", "Résume.", { content: '{"name": "Le Clos", "age": 12}' }, { response_format: SCHEMA, grounding: { sources: [{ id: "s1", text: "Le Clos a 12 ans." }] } });
    const verdict = r.events.at(-2) as { enclave_guardrails: { summary: string } };
    expect(verdict.enclave_guardrails.summary).toMatch(/schema=pass; grounded=(pass|flagged):\d\.\d\d$/);
    expect(r.events.at(-1)).toBe("[DONE]");
  });

  it("block of the schema on a stream sends the error event instead of the verdict event", async () => {
    const r = await stream("schemaBlock", "JSON.", { content: '{"name": 1}' }, { response_format: SCHEMA });
    expect(r.events).not.toContain("[DONE]");
    expect((r.events.at(-1) as { error: { code: string } }).error.code).toBe("guardrail_blocked");
    expect(r.events.some((e) => e !== "[DONE]" && "enclave_guardrails" in e)).toBe(false);
    const { usage } = await stored(r.requestId);
    expect(usage!.status).toBe(422);
    expect(usage!.guardrails).toContain(outcomeCode("schema.output", "blocked"));
  });
});

const SOURCES = [
  { id: "contrat", title: "Contrat de maintenance", text: "Le contrat de maintenance a été signé le 12 mars 2024 par la société Arvalis pour un montant de 45 000 euros. Il couvre les sites de Lyon et de Grenoble." },
  { id: "avenant", text: "Un avenant du 3 juin 2024 ajoute le site d'Annecy, sans changer le montant." },
];

describe("groundedness", () => {
  it("a grounded answer passes with its score in the header", async () => {
    const requestId = unique("req");
    upstream.script(requestId, { content: "Le contrat a été signé le 12 mars 2024 pour 45 000 euros [contrat]. L'avenant du 3 juin 2024 ajoute Annecy [avenant]." });
    const r = await call("grounded", chat("Résume le contrat.", { grounding: { sources: SOURCES } }), { requestId });
    expect(r.status).toBe(200);
    expect(r.summary).toMatch(/grounded=pass:(0\.[7-9]\d|1\.00)$/);
    // The extension field is the gateway's: the model server does not get it.
    expect(upstream.received.get(requestId)).not.toHaveProperty("grounding");
    const { record } = await stored(requestId);
    const v = verdictOf(record, "grounded")!;
    expect(v).toMatchObject({ action: "observe", outcome: "pass" });
    expect((v.findings as GroundedVerdictFindings).sources).toBe(2);
  });

  it("an ungrounded answer is flagged with its unsupported spans (observe), refused with 422 (block)", async () => {
    const answer = "Le contrat a été signé le 4 avril 2023 pour 90 000 euros par la société Veolia [annexe].";
    const requestId = unique("req");
    upstream.script(requestId, { content: answer });
    const r = await call("grounded", chat("Résume le contrat.", { grounding: { sources: SOURCES } }), { requestId });
    expect(r.status).toBe(200);
    const m = /grounded=flagged:(\d\.\d\d)$/.exec(r.summary ?? "");
    expect(m, r.summary ?? "no header").not.toBeNull();
    expect(Number(m![1])).toBeLessThan(0.7);
    const { record } = await stored(requestId);
    const findings = verdictOf(record, "grounded")!.findings as GroundedVerdictFindings;
    expect(findings.unsupported.length).toBeGreaterThan(0);
    const spans = findings.unsupported.map((u) => answer.slice(u.start, u.end));
    expect(spans.some((s) => s.includes("2023") || s.includes("90 000") || s.includes("Veolia") || s.includes("annexe"))).toBe(true);
    expect(JSON.stringify(findings)).not.toContain("Veolia");

    const blockedId = unique("req");
    upstream.script(blockedId, { content: answer });
    const blocked = await call("groundedBlock", chat("Résume le contrat.", { grounding: { sources: SOURCES } }), { requestId: blockedId });
    expect(blocked.status).toBe(422);
    expect(blocked.json.error).toMatchObject({ code: "guardrail_blocked" });
    expect(blocked.json.error!.message).toMatch(/grounded guardrail/);
  });

  it("an HTTP judge (a stand-in verifier) scores answers the built-in check passed; its failure is an error verdict, never a crash", async () => {
    const requestId = unique("req");
    upstream.script(requestId, { content: "Le contrat de maintenance couvre Lyon et Grenoble." });
    const before = judge.calls();
    const ok = await call("judgedHttp", chat("Résume.", { model: judgedModel, grounding: { sources: SOURCES } }), { requestId });
    expect(ok.status).toBe(200);
    expect(judge.calls()).toBe(before + 1);
    const { record } = await stored(requestId);
    expect(verdictOf(record, "grounded")).toMatchObject({ outcome: "pass", findings: { judge: "http" } });
    expect((verdictOf(record, "grounded")!.findings as GroundedVerdictFindings).judgeScore).toBeGreaterThan(0.7);

    judge.fail(true);
    try {
      const failedId = unique("req");
      upstream.script(failedId, { content: "Le contrat de maintenance couvre Lyon et Grenoble." });
      const failed = await call("judgedHttp", chat("Résume.", { model: judgedModel, grounding: { sources: SOURCES } }), { requestId: failedId });
      expect(failed.status).toBe(200);
      expect(failed.summary).toMatch(/grounded=error/);
      const { record: failedRecord, usage } = await stored(failedId);
      expect(verdictOf(failedRecord, "grounded")).toMatchObject({ outcome: "error" });
      expect(guardrailSpans(failedRecord).find((s) => s.attributes["gen_ai.guardrail.component.name"] === "grounded")!.status).toBe("error");
      expect(usage!.guardrails).toContain(outcomeCode("grounded.output", "error"));
    } finally {
      judge.fail(false);
    }
  });
});

describe("a deployment of the organisation as the judge", () => {
  it("is called through the gateway's routing with the sources and the answer; its score decides", async () => {
    // The judge deployment (a scripted upstream standing in for a model) answers the judge prompt's JSON.
    judgeUpstream.script("", { content: 'Verdict : {"score": 0.35, "unsupported": [[0, 22]]}' });
    await setOrgGuardrails(judged.org.id, { rules: { ...OFF, "grounded.output": "observe" }, judge: { kind: "deployment", deploymentId: judgeDeploymentId } });
    const answer = "Le contrat de maintenance couvre Lyon et Grenoble.";
    let record: TraceRecord | null = null;
    let summary: string | null = null;
    // The policy reaches the gateway by NOTIFY, a few milliseconds after the commit.
    await waitFor(async () => {
      const requestId = unique("req");
      upstream.script(requestId, { content: answer });
      const r = await call("judgedHttp", chat("Résume.", { model: judgedModel, grounding: { sources: SOURCES } }), { requestId });
      summary = r.summary;
      record = (await stored(requestId)).record;
      return (verdictOf(record, "grounded")!.findings as GroundedVerdictFindings).judge === "deployment";
    }, 10_000, 100);
    expect(summary).toBe("grounded=flagged:0.35");
    const v = verdictOf(record!, "grounded")!;
    expect(v).toMatchObject({ outcome: "flagged", score: 0.35, findings: { judge: "deployment", judgeScore: 0.35 } });
    expect((v.findings as GroundedVerdictFindings).unsupported).toContainEqual({ start: 0, end: 22, kind: "judge" });
    // What the judge deployment received: the judge prompt with the sources and the answer, sent by the gateway.
    const asked = JSON.stringify(judgeUpstream.received.get(""));
    expect(asked).toContain("Arvalis");
    expect(asked).toContain("Lyon et Grenoble");
  });
});

describe("the official OpenAI SDK", () => {
  it("sends response_format and the grounding extra field unmodified, and reads a stream with the verdict event", async () => {
    const client = new OpenAI({ apiKey: keys.grounded.key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const requestId = unique("req");
    upstream.script(requestId, { content: '{"name": "Arvalis", "age": 2}' });
    // `grounding` is Enclave's extension field: the SDK sends unknown body fields as they are.
    const params = { model, messages: [{ role: "user", content: "JSON." }], response_format: SCHEMA, grounding: { sources: SOURCES } };
    const completion = await client.chat.completions.create(params as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming, { headers: { "x-request-id": requestId } });
    expect(completion.choices[0].message.content).toBe('{"name": "Arvalis", "age": 2}');
    expect(upstream.received.get(requestId)!.response_format).toEqual(SCHEMA);
    const { record } = await stored(requestId);
    expect(verdictOf(record, "schema")).toMatchObject({ outcome: "pass" });
    expect((verdictOf(record, "grounded")!.findings as GroundedVerdictFindings).sources).toBe(2);

    const streamId = unique("req");
    upstream.script(streamId, { content: "Arvalis a signé le 12 mars 2024." });
    const streamParams = { model, messages: [{ role: "user", content: "Qui ?" }], stream: true, grounding: { sources: SOURCES } };
    const s = await client.chat.completions.create(streamParams as unknown as OpenAI.ChatCompletionCreateParamsStreaming, { headers: { "x-request-id": streamId } });
    let text = "";
    let verdict: { summary: string } | null = null;
    for await (const chunk of s) {
      text += chunk.choices[0]?.delta?.content ?? "";
      const extra = (chunk as unknown as { enclave_guardrails?: { summary: string } }).enclave_guardrails;
      if (extra) verdict = extra;
    }
    expect(text).toBe("Arvalis a signé le 12 mars 2024.");
    expect(verdict!.summary).toMatch(/^pii\.input=pass; pii\.output=pass; grounded=pass:/);
  });

  it("raises the blocked stream's error event while iterating", async () => {
    const client = new OpenAI({ apiKey: keys.streamBlock.key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const requestId = unique("req");
    upstream.script(requestId, { content: `Écrivez à ${PII.email}.` });
    const s = await client.chat.completions.create({ model, messages: [{ role: "user", content: "Contact ?" }], stream: true }, { headers: { "x-request-id": requestId } });
    await expect(
      (async () => {
        for await (const chunk of s) void chunk;
      })(),
    ).rejects.toMatchObject({ error: { code: "guardrail_blocked" } });
  });
});

describe("metrics", () => {
  it("counts verdicts by rule and outcome", async () => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    const count = (rule: string, outcome: string) => Number(new RegExp(`^enclave_guardrail_verdicts_total\\{rule="${rule.replace(".", "\\.")}",outcome="${outcome}"\\} (\\d+)`, "m").exec(text)?.[1] ?? NaN);
    expect(count("pii.input", "flagged")).toBeGreaterThanOrEqual(1);
    expect(count("pii.input", "blocked")).toBeGreaterThanOrEqual(1);
    expect(count("schema.output", "blocked")).toBeGreaterThanOrEqual(1);
    expect(count("grounded.output", "error")).toBeGreaterThanOrEqual(1);
  });
});

describe("nothing the gateway produces holds the personal data sent", () => {
  it("not the trace rows, spooled lines, usage rows, log lines, audit rows, metrics or error bodies", async () => {
    // A gateway of its own whose spool keeps its lines a minute, so they can be read before they go to PostgreSQL.
    const scanGw = await spawnGateway({ spoolDir: path.join(spoolRoot, "scan"), env: { GATEWAY_SPOOL_BATCH_MS: "60000" } });
    const answers: string[] = [];
    const ids: string[] = [];
    try {
      await waitForModel(scanGw.url, keys.observe.key, model);
      const everything = `Patient : ${PII.email} / ${PII.emailUpper}. IBAN ${PII.ibanSpaced} ou ${PII.ibanCompact}. Tél. ${PII.phoneFr}, ${PII.phoneDe}, ${PII.phoneIntl}. Carte ${PII.card}.`;
      for (const keyName of ["observe", "redact", "blockInput", "streamBlock", "streamRedact", "schemaBlock"]) {
        for (const streamed of [false, true]) {
          const requestId = unique("scan");
          upstream.script(requestId, { content: `Réponse : ${everything}`, chunks: streamed ? ["Réponse : ", everything.slice(0, 40), everything.slice(40)] : undefined });
          const r = await call(keyName, chat(everything, { stream: streamed, response_format: { type: "json_object" } }), { requestId, gateway: scanGw });
          ids.push(requestId);
          // Observed personal data reaches the client (that is what observe means): the other answers must not hold it.
          if (["redact", "blockInput", "streamBlock", "streamRedact"].includes(keyName) || (keyName === "schemaBlock" && !streamed)) answers.push(r.text);
        }
      }
      const spoolFiles = walk(path.join(spoolRoot, "scan"));
      const spooled = spoolFiles.map((f) => readFileSync(f, "utf8")).join("\n");
      expect(spooled).toContain(ids[0]);
      const metrics = await (await fetch(`${scanGw.url}/metrics`)).text();
      await scanGw.stop();
      const traces = await db.trace.findMany({ where: { requestId: { in: ids } } });
      expect(traces.length).toBe(ids.length);
      const usage = await db.usageRecord.findMany({ where: { id: { in: traces.map((t) => usageRecordId(t.recordId)) } } });
      expect(usage.length).toBe(ids.length);
      const audit = await db.auditEvent.findMany({ where: { orgId: a.org.id } });
      const haystacks: Record<string, string> = {
        traces: JSON.stringify(traces.map((t) => storedTraceRecord(t))),
        spooled,
        usage: JSON.stringify(usage),
        logs: [...gw.logs, ...scanGw.logs].join(""),
        audit: JSON.stringify(audit),
        metrics,
        answers: answers.join("\n"),
      };
      for (const [where, text] of Object.entries(haystacks)) {
        for (const needle of NEEDLES) {
          expect(text.toLowerCase(), `${where} holds ${needle}`).not.toContain(needle.toLowerCase());
          expect(compact(text), `${where} holds ${needle} (compacted)`).not.toContain(compact(needle));
        }
      }
    } finally {
      await scanGw.stop();
    }
  });
});

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

