/**
 * OTLP export of the gateway's traces: a real gateway process with OTEL_EXPORTER_OTLP_ENDPOINT set
 * sends each request's spans over OTLP/HTTP (JSON) to a local receiver (a plain node:http server
 * standing in for an OpenTelemetry Collector). Checked: the caller's trace id and parent, the
 * parent chain, the GenAI semantic conventions, the sampled flag, and that neither the prompt,
 * the completion nor the API key leaves the gateway.
 */
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newSpanId, newTraceId } from "@/server/gateway/trace";
import { createApiKey } from "../deployment-fixtures";
import { postChat, registerDeployment, spawnGateway, startFastUpstream, waitFor, waitForModel, type FakeUpstream, type GatewayProcess } from "../gateway-fixtures";
import { createTenant, unique, type Tenant } from "../helpers";

/** OTLP/JSON as the exporter writes it (ids in hex, times as strings of nanoseconds). */
interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values: OtlpValue[] };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: OtlpValue }[];
  events?: { name: string; timeUnixNano: string }[];
  status?: { code?: number; message?: string };
}
interface ExportRequest {
  resourceSpans: { resource: { attributes: { key: string; value: OtlpValue }[] }; scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[] }[];
}

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;
const PROMPT = `tell nobody ${unique("prompt")}`;

let tmp: string;
let tenant: Tenant;
let upstream: FakeUpstream;
let deployment: { id: string; name: string };
let broken: { id: string; name: string };
let key: string;
let gateway: GatewayProcess;
let receiver: http.Server;
const bodies: string[] = [];
const requests: { path: string; contentType: string | undefined }[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "enclave-otlp-"));
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests.push({ path: req.url ?? "", contentType: req.headers["content-type"] });
      bodies.push(Buffer.concat(chunks).toString("utf8"));
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const port = (receiver.address() as AddressInfo).port;

  tenant = await createTenant("otlp");
  upstream = await startFastUpstream();
  deployment = await registerDeployment(tenant, [upstream.url]);
  // A replica nobody listens on: the upstream call fails.
  broken = await registerDeployment(tenant, ["http://127.0.0.1:9"]);
  key = (await createApiKey(tenant.org.id, tenant.ownerId)).key;
  gateway = await spawnGateway({
    spoolDir: path.join(tmp, "spool"),
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_BSP_SCHEDULE_DELAY: "100", OTEL_SERVICE_NAME: "enclave-gateway-test" },
  });
  await waitForModel(gateway.url, key, deployment.name);
});

afterAll(async () => {
  await gateway?.stop();
  await upstream?.close();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  rmSync(tmp, { recursive: true, force: true });
});

function received(): { span: OtlpSpan; resource: Record<string, unknown> }[] {
  const out: { span: OtlpSpan; resource: Record<string, unknown> }[] = [];
  for (const body of bodies) {
    const request = JSON.parse(body) as ExportRequest;
    for (const rs of request.resourceSpans) {
      const resource = attributesOf(rs.resource.attributes);
      for (const ss of rs.scopeSpans) for (const span of ss.spans) out.push({ span, resource });
    }
  }
  return out;
}

function value(v: OtlpValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return v.arrayValue.values.map(value);
  return undefined;
}

function attributesOf(list: { key: string; value: OtlpValue }[]): Record<string, unknown> {
  return Object.fromEntries(list.map((a) => [a.key, value(a.value)]));
}

/** Waits for a trace's spans to arrive at the receiver. */
async function spansOf(traceId: string, atLeast = 2) {
  await waitFor(() => received().filter((r) => r.span.traceId === traceId).length >= atLeast, 20_000, 50);
  return received().filter((r) => r.span.traceId === traceId);
}

function traceparentOf(headers: Headers) {
  const [, traceId, spanId, flags] = (headers.get("traceparent") ?? "").split("-");
  return { traceId, spanId, flags };
}

describe("OTLP export of the gateway's spans", () => {
  it("exports a request's spans with the caller's trace id, its parent, and the GenAI conventions", async () => {
    const traceId = newTraceId();
    const callerSpan = newSpanId();
    const answer = await postChat(gateway.url, key, deployment.name, { traceparent: `00-${traceId}-${callerSpan}-01` }, { messages: [{ role: "user", content: PROMPT }] });
    expect(answer.status).toBe(200);
    const answered = traceparentOf(answer.headers);
    expect(answered.traceId).toBe(traceId);

    const spans = await spansOf(traceId, 3);
    expect(requests.every((r) => r.path === "/v1/traces" && r.contentType?.startsWith("application/json"))).toBe(true);

    // The request span: the gateway's root, child of the caller's span, named "{operation} {model}".
    const roots = spans.filter((r) => r.span.parentSpanId === callerSpan);
    expect(roots).toHaveLength(1);
    const root = roots[0].span;
    expect(root.spanId).toBe(answered.spanId);
    expect(root.name).toBe(`chat ${deployment.name}`);
    expect(root.kind).toBe(SPAN_KIND_SERVER);
    const attrs = attributesOf(root.attributes);
    expect(attrs).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "enclave",
      "gen_ai.request.model": deployment.name,
      "gen_ai.response.model": deployment.name,
      // The fixture upstream reports 7 prompt and 3 completion tokens.
      "gen_ai.usage.input_tokens": 7,
      "gen_ai.usage.output_tokens": 3,
      "http.response.status_code": 200,
      "http.route": "/v1/chat/completions",
      "enclave.deployment.id": deployment.id,
      "enclave.org.id": tenant.org.id,
    });
    expect(attrs["error.type"]).toBeUndefined();
    expect(roots[0].resource["service.name"]).toBe("enclave-gateway-test");

    // Every other span is a child of the root, inside its time range.
    const children = spans.filter((r) => r.span.spanId !== root.spanId).map((r) => r.span);
    expect(children.length).toBeGreaterThanOrEqual(2);
    for (const child of children) {
      expect(child.parentSpanId).toBe(root.spanId);
      expect(BigInt(child.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(root.startTimeUnixNano));
      expect(BigInt(child.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(root.endTimeUnixNano) + 1000n);
    }
    const names = children.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(["auth", "route", "upstream"]));
    const call = children.find((c) => c.name === "upstream")!;
    expect(call.kind).toBe(SPAN_KIND_CLIENT);
    expect(attributesOf(call.attributes)).toMatchObject({ "server.address": "127.0.0.1", "server.port": Number(new URL(upstream.url).port) });
    // The root's times are the record's: the request arrived within the test's own clock window.
    expect(Number(BigInt(root.endTimeUnixNano) - BigInt(root.startTimeUnixNano))).toBeGreaterThan(0);

    // Neither the prompt, nor the completion, nor the key is exported.
    const exported = bodies.join("\n");
    expect(exported).not.toContain(PROMPT);
    expect(exported).not.toContain("Bonjour.");
    expect(exported).not.toContain(key);
    expect(exported).not.toContain(key.slice(17));
  });

  it("names embeddings and failures per the conventions: operation, error.type and an error status", async () => {
    const embedTrace = newTraceId();
    const embed = await fetch(`${gateway.url}/v1/embeddings`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", traceparent: `00-${embedTrace}-${newSpanId()}-01` },
      body: JSON.stringify({ model: deployment.name, input: "hello" }),
    });
    expect(embed.status).toBe(200);
    await embed.text();
    const embedRoot = (await spansOf(embedTrace)).find((r) => r.span.kind === SPAN_KIND_SERVER)!.span;
    expect(embedRoot.name).toBe(`embeddings ${deployment.name}`);
    expect(attributesOf(embedRoot.attributes)["gen_ai.operation.name"]).toBe("embeddings");

    await waitForModel(gateway.url, key, broken.name);
    const failTrace = newTraceId();
    const failed = await postChat(gateway.url, key, broken.name, { traceparent: `00-${failTrace}-${newSpanId()}-01` });
    expect(failed.status).toBe(502);
    const spans = await spansOf(failTrace, 3);
    const root = spans.find((r) => r.span.kind === SPAN_KIND_SERVER)!.span;
    expect(root.name).toBe(`chat ${broken.name}`);
    expect(attributesOf(root.attributes)).toMatchObject({ "error.type": "upstream_error", "http.response.status_code": 502, "gen_ai.request.model": broken.name });
    expect(attributesOf(root.attributes)["gen_ai.response.model"]).toBeUndefined();
    expect(root.status?.code).toBe(STATUS_ERROR);
    const calls = spans.filter((r) => r.span.name === "upstream").map((r) => r.span);
    expect(calls.length).toBeGreaterThanOrEqual(1);
    for (const c of calls) {
      expect(c.status?.code).toBe(STATUS_ERROR);
      expect(attributesOf(c.attributes)["error.type"]).toBe("ECONNREFUSED");
    }
  });

  it("does not export a trace its caller did not sample", async () => {
    const unsampled = newTraceId();
    expect((await postChat(gateway.url, key, deployment.name, { traceparent: `00-${unsampled}-${newSpanId()}-00` })).status).toBe(200);
    // Export keeps the order of requests: once a later sampled trace has arrived, the unsampled one would have too.
    const later = newTraceId();
    expect((await postChat(gateway.url, key, deployment.name, { traceparent: `00-${later}-${newSpanId()}-01` })).status).toBe(200);
    await spansOf(later);
    expect(received().filter((r) => r.span.traceId === unsampled)).toHaveLength(0);
  });

  it("keeps answering when the collector is down, and counts the spans it could not export", async () => {
    const down = await spawnGateway({
      spoolDir: path.join(tmp, "spool-down"),
      // Port 9 on loopback: nobody listens; each batch fails once its retries use up the export timeout.
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://127.0.0.1:9/v1/traces", OTEL_BSP_SCHEDULE_DELAY: "50", OTEL_EXPORTER_OTLP_TIMEOUT: "1500" },
    });
    try {
      await waitForModel(down.url, key, deployment.name);
      for (let i = 0; i < 3; i++) expect((await postChat(down.url, key, deployment.name)).status).toBe(200);
      const failed = async () => {
        const text = await (await fetch(`${down.url}/metrics`)).text();
        return Number(/^enclave_gateway_otlp_spans_total\{outcome="failed"\} (\d+)$/m.exec(text)?.[1] ?? 0);
      };
      await waitFor(async () => (await failed()) >= 3 * 3, 20_000, 100);
      expect(down.logs.join("")).toContain("gateway could not export spans over OTLP");
    } finally {
      await down.stop();
    }
  });

  it("counts the spans it exported in the gateway's metrics (read from loopback, no token set)", async () => {
    const exported = async () => {
      const text = await (await fetch(`${gateway.url}/metrics`)).text();
      return Number(/^enclave_gateway_otlp_spans_total\{outcome="exported"\} (\d+)$/m.exec(text)?.[1] ?? -1);
    };
    await waitFor(async () => (await exported()) === received().length, 10_000, 50);
    expect(received().length).toBeGreaterThan(0);
  });
});
