/**
 * Saturation runs of `npm run bench` with `wrk` (Debian's package, /usr/bin/wrk; .ci/run installs
 * it): a closed loop of `connections` keep-alive connections on `threads` threads, each sending its
 * next request when the previous one is answered, for `seconds`. wrk is C on epoll, so the
 * generator costs the machine far less than the server it saturates; its Lua `done` hook prints
 * the summary as one JSON line, read here.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export interface WrkOptions {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
  threads: number;
  connections: number;
  seconds: number;
}

export interface WrkResult {
  requests: number;
  /** Answers that were not 2xx/3xx. */
  non2xx: number;
  /** Connect, read and write errors and timeouts. */
  socketErrors: number;
  seconds: number;
  requestsPerSecond: number;
  /** Milliseconds (closed-loop latencies: only comparable at the same number of connections). */
  latency: { p50: number; p99: number; max: number };
}

const luaString = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;

export function wrkAvailable(): Promise<string | null> {
  return new Promise((resolve) => {
    execFile("wrk", ["--version"], (error, stdout, stderr) => {
      const text = `${stdout}${stderr}`;
      const version = /wrk (\S+)/.exec(text);
      resolve(version ? version[1] : error ? null : "unknown");
    });
  });
}

export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-wrk-"));
  const script = path.join(dir, "request.lua");
  writeFileSync(
    script,
    `wrk.method = ${luaString(options.method)}
wrk.body = ${luaString(options.body)}
${Object.entries(options.headers)
  .map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}`)
  .join("\n")}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nWRK_JSON {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50":%f,"p99":%f,"max":%f}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`,
  );
  try {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        "wrk",
        ["-t", String(options.threads), "-c", String(options.connections), "-d", `${options.seconds}s`, "--timeout", "10s", "-s", script, options.url],
        { maxBuffer: 1 << 20 },
        (error, out, err) => (error ? reject(new Error(`wrk failed: ${error.message}\n${out}${err}`)) : resolve(out)),
      );
    });
    const line = /WRK_JSON (\{.*\})/.exec(stdout);
    if (!line) throw new Error(`wrk printed no summary:\n${stdout}`);
    const r = JSON.parse(line[1]) as { requests: number; duration_us: number; status: number; connect: number; read: number; write: number; timeout: number; p50: number; p99: number; max: number };
    const seconds = r.duration_us / 1e6;
    return {
      requests: r.requests,
      non2xx: r.status,
      socketErrors: r.connect + r.read + r.write + r.timeout,
      seconds,
      requestsPerSecond: r.requests / seconds,
      latency: { p50: r.p50 / 1000, p99: r.p99 / 1000, max: r.max / 1000 },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
