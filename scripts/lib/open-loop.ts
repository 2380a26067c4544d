/**
 * The open-loop load generator of `npm run bench` (scripts/bench-gateway.ts), run as its own
 * process so that nothing it does shares an event loop with what it measures:
 *
 *   node --import tsx scripts/lib/open-loop.ts   (configuration in OPEN_LOOP as JSON, see `Config`)
 *
 * Requests leave on a fixed schedule (request i at start + i / rate), whatever the answers do: a
 * slow answer never delays the next request (open loop, as wrk2 does). Each request's latency is
 * measured from its *scheduled* time to the last byte of its answer, so a stall — of the server,
 * or of this generator itself — is counted for every request it delayed (no coordinated omission).
 * The time from the actual write is kept too (service time), and so is how late each request left
 * (the generator's own health: libuv timers have millisecond granularity, so up to ~1 ms is normal).
 *
 * Raw keep-alive TCP connections with the request's bytes built once; a pool opened before the
 * schedule starts; a new connection only when every one is busy (counted).
 *
 * Prints one JSON line (`Summary`) and writes the per-request timings to `out` as a binary file:
 * a Float64Array of `count` × [scheduled, sent, done] (ms since `epochMs`), then a Uint16Array of
 * `count` statuses (0: no answer).
 */
import { writeFileSync } from "node:fs";
import net from "node:net";

export interface Config {
  port: number;
  /** The request's bytes, base64. */
  request: string;
  rate: number;
  /** Measured seconds (after the warm-up). */
  seconds: number;
  /** Seconds at the same rate before, discarded. */
  warmupSeconds: number;
  /** Connections opened before the schedule starts. */
  connections: number;
  out: string;
  /**
   * Where, in the request's bytes, 12 ASCII digits are overwritten with `idBase + i` for request i
   * (an `x-request-id`, to find each request in the gateway's own timeline); -1: none.
   */
  idOffset?: number;
  idBase?: number;
}

export interface Summary {
  count: number;
  /** Wall-clock time (epoch ms) of the measured part's time 0. */
  epochMs: number;
  errors: number;
  /** 200 answers, warm-up included. */
  okAll: number;
  /** Requests still unanswered 10 s after the schedule ended. */
  unanswered: number;
  /** Connections that had to be opened during the run (all pooled ones busy). */
  extraConnections: number;
  /** How late requests left their schedule (ms): p50, p99, max. */
  lag: { p50: number; p99: number; max: number };
}

class Connection {
  readonly socket: net.Socket;
  private buffer: Buffer | null = null;
  private done: ((status: number) => void) | null = null;
  ready: Promise<void>;
  /** Closed (e.g. by the server's keep-alive timeout while idle in the pool): never reused. */
  dead = false;

  constructor(port: number) {
    this.socket = net.connect(port, "127.0.0.1");
    this.socket.setNoDelay(true);
    this.ready = new Promise((resolve, reject) => {
      this.socket.once("connect", resolve);
      this.socket.once("error", reject);
    });
    this.socket.on("data", (d) => this.onData(d));
    this.socket.on("error", () => this.finish(0));
    this.socket.on("close", () => {
      this.dead = true;
      this.finish(0);
    });
    this.socket.on("end", () => (this.dead = true));
  }

  send(request: Buffer, done: (status: number) => void) {
    this.done = done;
    this.socket.write(request);
  }

  private finish(status: number) {
    const done = this.done;
    this.done = null;
    done?.(status);
  }

  private onData(data: Buffer) {
    let buf = this.buffer ? Buffer.concat([this.buffer, data]) : data;
    for (;;) {
      const headerEnd = buf.indexOf("\r\n\r\n");
      if (headerEnd === -1) break;
      const head = buf.toString("latin1", 0, headerEnd);
      const length = /content-length: *(\d+)/i.exec(head);
      const total = headerEnd + 4 + (length ? Number(length[1]) : 0);
      if (buf.length < total) break;
      const status = Number(head.slice(9, 12));
      buf = buf.subarray(total);
      this.finish(status);
    }
    this.buffer = buf.length ? buf : null;
  }
}

function quantile(sorted: Float64Array, p: number) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : 0;
}

export async function runOpenLoop(config: Config): Promise<Summary> {
  const request = Buffer.from(config.request, "base64");
  const idOffset = config.idOffset ?? -1;
  const idBase = config.idBase ?? 0;
  const warm = Math.round(config.rate * config.warmupSeconds);
  const measured = Math.round(config.rate * config.seconds);
  const total = warm + measured;
  const interval = 1000 / config.rate;
  const scheduled = new Float64Array(total);
  const sent = new Float64Array(total);
  const done = new Float64Array(total);
  const status = new Uint16Array(total);
  const idle: Connection[] = [];
  const all: Connection[] = [];
  for (let i = 0; i < config.connections; i++) all.push(new Connection(config.port));
  await Promise.all(all.map((c) => c.ready));
  idle.push(...all);
  let extraConnections = 0;
  let next = 0;
  let completed = 0;
  // The measured part's time 0 is the end of the warm-up.
  const start = performance.now() + 20;
  const zero = start + warm * interval;

  const result = new Promise<void>((resolve) => {
    const onDone = (i: number, conn: Connection) => (s: number) => {
      done[i] = performance.now();
      status[i] = s;
      if (s !== 0) idle.push(conn);
      else conn.socket.destroy();
      if (++completed === total) resolve();
    };
    const tick = () => {
      const now = performance.now();
      while (next < total && start + next * interval <= now) {
        const i = next++;
        let conn = idle.pop();
        while (conn && conn.dead) conn = idle.pop();
        if (!conn) {
          conn = new Connection(config.port);
          all.push(conn);
          if (i >= warm) extraConnections++;
        }
        let bytes = request;
        if (idOffset >= 0) {
          bytes = Buffer.from(request);
          bytes.write(String(idBase + i).padStart(12, "0"), idOffset, "latin1");
        }
        scheduled[i] = start + i * interval;
        sent[i] = performance.now();
        conn.send(bytes, onDone(i, conn));
      }
      if (next < total) setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
    };
    setTimeout(tick, Math.max(0, start - performance.now()));
  });
  const endOfSchedule = start + total * interval;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([result, new Promise<void>((resolve) => (timer = setTimeout(resolve, endOfSchedule - performance.now() + 10_000)))]);
  clearTimeout(timer);
  for (const c of all) c.socket.destroy();

  const out = new Float64Array(measured * 3);
  const lag = new Float64Array(measured);
  let errors = 0;
  let unanswered = 0;
  for (let k = 0; k < measured; k++) {
    const i = warm + k;
    out[k * 3] = scheduled[i] - zero;
    out[k * 3 + 1] = sent[i] - zero;
    out[k * 3 + 2] = done[i] ? done[i] - zero : Number.POSITIVE_INFINITY;
    lag[k] = sent[i] - scheduled[i];
    if (status[i] === 0) unanswered++;
    else if (status[i] !== 200) errors++;
  }
  lag.sort();
  let okAll = 0;
  for (let i = 0; i < total; i++) if (status[i] === 200) okAll++;
  writeFileSync(config.out, Buffer.concat([Buffer.from(out.buffer), Buffer.from(status.slice(warm).buffer)]));
  return {
    count: measured,
    epochMs: performance.timeOrigin + zero,
    errors,
    okAll,
    unanswered,
    extraConnections,
    lag: { p50: quantile(lag, 0.5), p99: quantile(lag, 0.99), max: lag[lag.length - 1] ?? 0 },
  };
}

/** Per-request timings written by `runOpenLoop`. */
export function readTimings(buffer: Buffer, count: number) {
  const floats = new Float64Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + count * 24));
  const status = new Uint16Array(buffer.buffer.slice(buffer.byteOffset + count * 24, buffer.byteOffset + count * 26));
  const scheduled = new Float64Array(count);
  const sent = new Float64Array(count);
  const done = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    scheduled[i] = floats[i * 3];
    sent[i] = floats[i * 3 + 1];
    done[i] = floats[i * 3 + 2];
  }
  return { scheduled, sent, done, status };
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const config = JSON.parse(process.env.OPEN_LOOP ?? "null") as Config | null;
  if (!config) {
    process.stderr.write("OPEN_LOOP (JSON configuration) is required\n");
    process.exit(2);
  }
  runOpenLoop(config).then(
    (summary) => {
      process.stdout.write(`${JSON.stringify(summary)}\n`);
      process.exit(0);
    },
    (error) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    },
  );
}
