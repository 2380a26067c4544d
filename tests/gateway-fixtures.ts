/**
 * Gateway test parts: gateway processes spawned from server/gateway/main.ts, minimal upstream
 * servers registered as replica endpoints (fast fixed answers, or a stream that breaks), and the
 * database changes the control plane makes (deployment routes, key revocation) with their NOTIFY.
 */
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { db } from "@/server/db";
import { GATEWAY_NODE_FLAGS } from "@/server/gateway/node-flags";
import { GATEWAY_CHANNELS } from "@/server/services/api-key-secrets";
import type { Tenant } from "./helpers";
import { unique } from "./helpers";

const ROOT = path.resolve(import.meta.dirname, "..");

export interface GatewayProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  logs: string[];
  /** SIGTERM and wait (graceful: flushes usage). */
  stop(): Promise<void>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

/** Spawns `node <GATEWAY_NODE_FLAGS> --import tsx server/gateway/main.ts`, as it ships, and waits for its "gateway listening" line. */
export async function spawnGateway(options: { spoolDir: string; env?: Record<string, string> }): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, "--import", "tsx", path.join(ROOT, "server", "gateway", "main.ts")], {
    cwd: ROOT,
    env: { ...process.env, GATEWAY_PORT: "0", GATEWAY_HOST: "127.0.0.1", GATEWAY_SPOOL_DIR: options.spoolDir, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start in 30 s:\n${logs.join("")}`)), 30_000);
    const onLine = (data: Buffer) => {
      const text = String(data);
      logs.push(text);
      const match = /"message":"gateway listening".*?"url":"([^"]+)"/.exec(text);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout!.on("data", onLine);
    child.stderr!.on("data", (d) => logs.push(String(d)));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${logs.join("")}`));
    });
  });
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(sig);
    await exited;
  };
  return { url, pid: child.pid!, child, logs, stop: () => signal("SIGTERM"), kill: () => signal("SIGKILL") };
}

export interface FakeUpstream {
  url: string;
  /** Requests answered so far. */
  served: () => number;
  close(): Promise<void>;
}

const CHAT_ANSWER = (model: string) =>
  JSON.stringify({
    id: "chatcmpl-fixed",
    object: "chat.completion",
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, message: { role: "assistant", content: "Bonjour.", refusal: null }, logprobs: null, finish_reason: "stop" }],
    usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
  });

/**
 * A minimal OpenAI-compatible upstream on node:http answering every chat completion with a fixed
 * JSON body (usage: 7 in, 3 out), for tests where the model's speed is not the point.
 */
export async function startFastUpstream(model = "any"): Promise<FakeUpstream> {
  const body = Buffer.from(CHAT_ANSWER(model));
  let served = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      served++;
      res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
      res.end(body);
    });
  });
  return listen(server, () => served);
}

/** An upstream whose SSE stream sends two chunks, then destroys the connection. */
export async function startBrokenStreamUpstream(model = "any"): Promise<FakeUpstream> {
  let served = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      served++;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const chunk = (content: string) =>
        `data: ${JSON.stringify({ id: "chatcmpl-broken", object: "chat.completion.chunk", created: 1_700_000_000, model, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }] })}\n\n`;
      res.write(chunk("Bon"));
      setTimeout(() => {
        res.write(chunk("jour"));
        setTimeout(() => res.socket?.destroy(), 20);
      }, 20);
    });
  });
  return listen(server, () => served);
}

async function listen(server: http.Server, served: () => number): Promise<FakeUpstream> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    served,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A RUNNING deployment of the tenant whose ready replicas are `endpoints`, as the reconcile loop
 * would record them, announced on the routes channel as the reconcile loop does.
 */
export async function registerDeployment(
  tenant: Tenant,
  endpoints: string[],
  overrides: Partial<{ name: string; dataClassification: "PUBLIC" | "INTERNAL" | "CONFIDENTIAL" | "RESTRICTED" }> = {},
) {
  const deployment = await db.deployment.create({
    data: {
      orgId: tenant.org.id,
      name: overrides.name ?? unique("fast"),
      catalogModelId: tenant.model.id,
      regionId: tenant.region.id,
      gpuTypeId: tenant.gpuType.id,
      gpusPerReplica: 1,
      replicas: endpoints.length,
      maxReplicas: Math.max(1, endpoints.length),
      dataClassification: overrides.dataClassification ?? "INTERNAL",
      phase: "RUNNING",
      createdById: tenant.ownerId,
      replicaSet: { create: endpoints.map((endpoint, ordinal) => ({ ordinal, revision: 1, state: "ready", endpoint, readyAt: new Date() })) },
    },
  });
  await notifyRoute(deployment.id);
  return deployment;
}

export async function notifyRoute(deploymentId: string) {
  await db.$executeRaw`SELECT pg_notify(${GATEWAY_CHANNELS.routes}, ${deploymentId})`;
}

/** Revokes a key exactly as the key management service does: the update and the NOTIFY in one transaction. */
export async function revokeKey(apiKeyId: string): Promise<number> {
  await db.$transaction(async (tx) => {
    await tx.$executeRaw`UPDATE "ApiKey" SET "revokedAt" = now() WHERE id = ${apiKeyId}`;
    await tx.$executeRaw`SELECT pg_notify(${GATEWAY_CHANNELS.apiKeys}, ${apiKeyId})`;
  });
  return Date.now();
}

export function chatBody(model: string, extra: Record<string, unknown> = {}) {
  return JSON.stringify({ model, messages: [{ role: "user", content: "Bonjour" }], max_tokens: 4, ...extra });
}

/** POST /v1/chat/completions with fetch: status, body, headers. */
export async function postChat(gatewayUrl: string, key: string, model: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) {
  const res = await fetch(`${gatewayUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body: chatBody(model, extra),
  });
  const text = await res.text();
  let json: { error?: { message: string; type: string; param: string | null; code: string | null }; usage?: unknown } = {};
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, json, text, headers: res.headers };
}

/** Waits until the gateway lists `model` for this key (routes arrive by NOTIFY, a few ms after the commit). */
export async function waitForModel(gatewayUrl: string, key: string, model: string) {
  await waitFor(async () => (await fetch(`${gatewayUrl}/v1/models/${encodeURIComponent(model)}`, { headers: { authorization: `Bearer ${key}` } })).status === 200, 5000, 10);
}

/**
 * `clients` loops sending chat completions until stopped, for a kill under load: the request id
 * and the root span of every call answered 200 (a call whose process died under it has none), and
 * the calls that got no answer at all within `hangMs` (`hung`: a connection the dead process left
 * open, which a kill must not cause — its client would wait forever).
 */
export function loadUntilStopped(gatewayUrl: string, key: string, model: string, clients = 16, hangMs = 10_000) {
  const answered: string[] = [];
  const answeredSpans: string[] = [];
  const hung: number[] = [];
  let stopped = false;
  const client = async () => {
    while (!stopped) {
      const sentAt = Date.now();
      try {
        const r = await fetch(`${gatewayUrl}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: chatBody(model),
          signal: AbortSignal.timeout(hangMs),
        });
        await r.arrayBuffer();
        if (r.status === 200) {
          answered.push(r.headers.get("x-request-id")!);
          answeredSpans.push(r.headers.get("traceparent")!.split("-")[2]);
        }
      } catch (error) {
        // A reset or a closed connection: the process died under this request, which never got its
        // response. No answer, not even a reset, within hangMs: a hung connection.
        if (error instanceof DOMException && error.name === "TimeoutError") hung.push(Date.now() - sentAt);
      }
    }
  };
  const running = Array.from({ length: clients }, client);
  return {
    answered,
    answeredSpans,
    hung,
    async stop() {
      stopped = true;
      await Promise.all(running);
    },
  };
}

/** Waits until `check` holds, polling every `everyMs`; returns the elapsed milliseconds. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 25): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await check()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`condition not met in ${timeoutMs} ms`);
}
