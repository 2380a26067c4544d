/**
 * Usage metering and traces that are never lost: every answered request's usage record and trace
 * are appended synchronously (one write(2) of one JSON line) to a spool segment in this process's
 * own directory before the client sees the end of its response, then batched into PostgreSQL
 * (every `batchMs` or `batchSize` records): the usage rows (usage-sql.ts, `ON CONFLICT
 * ("createdAt", id) DO NOTHING`) and the trace rows (trace-sql.ts, `ON CONFLICT ("spanId",
 * "startedAt") DO NOTHING`) in one statement, so a killed gateway loses neither and replaying a
 * line twice duplicates neither. Each batch fsyncs the segments it covers before its INSERT; a
 * segment is deleted (or truncated) once everything in it is committed.
 *
 * A line is `{"usage":…,"trace":…,"content":…}` (usage null for a refusal, which is traced but not
 * metered; content only for keys that capture it). Lines written before traces existed are a bare
 * usage record, and still replay.
 *
 * On start, and every 30 s, the segments left by dead processes (a directory whose `owner` file
 * names a process that no longer runs) are claimed by renaming their directory — atomic, so two
 * live gateways never replay the same one — and replayed. A SIGKILLed gateway's records are in its
 * segments (the page cache survives the process); a database restart only delays the batches.
 */
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, fdatasync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, unlinkSync, writeFileSync, writeSync, appendFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type pg from "pg";
import { BAD_RECORD_SQLSTATE, INSERT_SQL, insertParams, type UsageEntry } from "./usage-sql";
import type { TraceRecord } from "./trace";
import { deflateTraces, TRACE_IN_LINE, type TraceCompression, traceColumns, USAGE_AND_TRACE_SQL, traceJsonOf, traceParams, type TraceColumns } from "./trace-sql";
import { serialiseTrace } from "./tracing";
import { atMostEvery } from "./log-limit";

export type { UsageEntry };

/** One spooled line, as queued: the usage record (null when not metered) and the trace, serialised. */
export interface SpoolItem {
  usage: UsageEntry | null;
  /** The TraceRecord's JSON without its content; null for lines written before traces. */
  trace: string | null;
  /** The captured prompt and completion's JSON, or null. */
  content: string | null;
  /**
   * The line's bytes as spooled (`{"usage":…,"trace":…,"content":…}`), when it has a trace: the
   * batch compresses the trace from a slice of these bytes and sends the content as one (trace-sql.ts),
   * with no string work on the event loop (building the parameter from `trace` took ≥ 3.5 ms per
   * 100 traces; docs/benchmarks.md). An
   * appended item's `trace` is then TRACE_IN_LINE (read it with traceJsonOf): the string as built
   * was a rope of ~8.9 KB of heap per queued record, the line's bytes are outside the heap.
   */
  line?: Buffer;
  /** Where the trace's JSON is in `line` (byte offset, length), and the captured content's (null: none). */
  traceAt?: readonly [number, number];
  contentAt?: readonly [number, number] | null;
  /** The trace's "Trace" columns (trace-sql.ts), read from the record when it was spooled or replayed. */
  cols?: TraceColumns;
}

const fdatasyncAsync = promisify(fdatasync);


type Log = (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;

interface Segment {
  path: string;
  fd: number;
  bytes: number;
  /** Records appended and not yet committed. */
  unflushed: number;
  sealed: boolean;
  /** Written while the in-memory queue was full: replayed from the file, not from memory. */
  diskOnly: boolean;
  /** Records written to a disk-only segment (what its replay will send). */
  spilled: number;
}

const DEFAULT_SEGMENT_BYTES = 16 << 20;
/** Beyond this many records waiting (database down for a long time), new ones stay on disk only. */
const DEFAULT_MAX_QUEUED = 100_000;
/** …or beyond this many bytes of them (traces make a line a few KiB). */
const DEFAULT_MAX_QUEUED_BYTES = 64 << 20;
const REPLAY_BATCH = 1000;
const RESCAN_MS = 30_000;

// ---- spool directory ownership ----

interface Owner {
  pid: number;
  start: string | null;
  host: string;
}

/** The process start time in clock ticks since boot (field 22 of /proc/<pid>/stat), against pid reuse. */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

const me: Owner = { pid: process.pid, start: processStart(process.pid), host: os.hostname() };

function readOwner(dir: string): Owner | null {
  try {
    return JSON.parse(readFileSync(path.join(dir, "owner"), "utf8")) as Owner;
  } catch {
    return null;
  }
}

function ownerAlive(owner: Owner): boolean {
  if (owner.pid === me.pid && owner.start === me.start && owner.host === me.host) return true;
  // Another machine sharing the directory: we cannot tell, so we leave it alone.
  if (owner.host !== me.host) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const start = processStart(owner.pid);
  return start === null || owner.start === null || start === owner.start;
}

function writeOwner(dir: string) {
  writeFileSync(path.join(dir, "owner"), JSON.stringify(me));
}

const badRecord = (error: unknown) => {
  const code = (error as { code?: string }).code;
  return code !== undefined && BAD_RECORD_SQLSTATE.test(code);
};

/** A spooled line: `{usage, trace, content}`, or a bare usage record (lines written before traces). */
function parseLine(line: string): SpoolItem {
  const obj = JSON.parse(line) as { usage?: UsageEntry | null; trace?: unknown; content?: unknown } & Partial<UsageEntry>;
  if (obj === null || typeof obj !== "object") throw new Error("not a spool line");
  if (!("trace" in obj) && !("usage" in obj)) return { usage: obj as UsageEntry, trace: null, content: null };
  return {
    usage: obj.usage ?? null,
    trace: obj.trace ? JSON.stringify(obj.trace) : null,
    content: obj.content ? JSON.stringify(obj.content) : null,
    cols: obj.trace && typeof obj.trace === "object" ? traceColumns(obj.trace as TraceRecord) : undefined,
  };
}

export class UsageSpool {
  /**
   * Items waiting for PostgreSQL from `head`; below `head`, null (a committed item's slot is
   * cleared at once: the array itself is compacted only every 4,096 items, and items kept that
   * long — 8 s at 500 req/s, each with its line — were promoted to the old generation and cost a
   * major GC every ~2 s, the p99 tail at 500 req/s).
   */
  private queue: (SpoolItem | null)[] = [];
  /** Bytes of the lines in `queue` from `head` (the memory bound). */
  private queuedBytes = 0;
  private queueBytes: number[] = [];
  private queueSegs: Segment[] = [];
  private head = 0;
  private active!: Segment;
  private segments = new Set<Segment>();
  private overflow: Segment[] = [];
  private segmentSeq = 0;
  private readonly tag = randomBytes(4).toString("hex");
  private flushing = false;
  private flushSoon = false;
  private retryAt = 0;
  private failures = 0;
  /** The spool's failed writes and the compression worker's failures, each said at most every so often. */
  private readonly writeErrorDue = atMostEvery(10_000);
  private readonly deflateErrorDue = atMostEvery(60_000);
  private timer: NodeJS.Timeout | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  /** Files to replay (left by a previous life of this directory or by dead processes), with the directory to remove after. */
  private replayQueue: { file: string; dir: string | null; spilled?: number }[] = [];
  /** Records in disk-only segments not replayed yet (see `unsent`). */
  private spilled = 0;
  private replaying: Promise<void> | null = null;
  private closed = false;
  /** Records committed to PostgreSQL by this process (appended + replayed). */
  committed = 0;

  constructor(
    private readonly options: { dir: string; pool: pg.Pool; batchMs: number; batchSize: number; log: Log; traceCompression?: TraceCompression; segmentBytes?: number; maxQueued?: number; maxQueuedBytes?: number },
  ) {
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
    this.maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
  }

  private readonly segmentBytes: number;
  private readonly maxQueued: number;
  private readonly maxQueuedBytes: number;

  /** Segment files currently on disk for this process (tests). */
  get segmentCount() {
    return this.segments.size;
  }

  get dir() {
    return this.options.dir;
  }

  /** Records queued in memory and not yet in PostgreSQL. */
  get pending() {
    return this.queue.length - this.head;
  }

  /**
   * Every record appended and not yet in PostgreSQL: the queue's, and those written to disk only
   * while it was full, until their replay commits them (the metrics' figure; lines of other,
   * dead processes' spools are not counted).
   */
  get unsent() {
    return this.pending + this.spilled;
  }

  async open() {
    const dir = this.options.dir;
    mkdirSync(dir, { recursive: true });
    const owner = readOwner(dir);
    if (owner && ownerAlive(owner) && !(owner.pid === me.pid && owner.start === me.start)) {
      throw new Error(`The spool directory ${dir} belongs to the running process ${owner.pid}: give each gateway process its own GATEWAY_SPOOL_DIR.`);
    }
    writeOwner(dir);
    // Segments from a previous life of this directory (a fixed GATEWAY_SPOOL_DIR after a crash).
    for (const name of readdirSync(dir)) if (name.endsWith(".jsonl")) this.replayQueue.push({ file: path.join(dir, name), dir: null });
    this.active = this.openSegment(false);
    this.claimDeadSiblings();
    this.timer = setInterval(() => this.tick(), this.options.batchMs);
    this.timer.unref();
    this.rescanTimer = setInterval(() => {
      this.claimDeadSiblings();
      this.kickReplay();
    }, RESCAN_MS);
    this.rescanTimer.unref();
    this.kickReplay();
  }

  private openSegment(diskOnly: boolean): Segment {
    const file = path.join(this.options.dir, `usage-${this.tag}-${String(++this.segmentSeq).padStart(6, "0")}.jsonl`);
    const segment: Segment = { path: file, fd: openSync(file, "a"), bytes: 0, unflushed: 0, sealed: false, diskOnly, spilled: 0 };
    this.segments.add(segment);
    return segment;
  }

  private rotate(diskOnly: boolean) {
    const next = this.openSegment(diskOnly);
    const old = this.active;
    old.sealed = true;
    if (old.diskOnly) this.overflow.push(old);
    this.active = next;
    this.release(old);
  }

  /**
   * Appends one answered request: its usage record (null when it is not metered) and its trace
   * (without its content, which comes apart). Synchronous, so it is in the file before the caller
   * answers its client: one JSON line, one write.
   */
  append(usage: UsageEntry | null, trace: TraceRecord | null = null, content: string | null = null) {
    if (usage === null && trace === null) return;
    try {
      if (this.active.bytes > this.segmentBytes) this.rotate(this.active.diskOnly);
      const queueFull = this.pending >= this.maxQueued || this.queuedBytes >= this.maxQueuedBytes;
      if (queueFull !== this.active.diskOnly) this.rotate(queueFull);
    } catch {
      // No new segment (disk full): keep appending to the current one; the write below reports it.
    }
    const traceJson = trace === null ? null : serialiseTrace(trace);
    const usageJson = usage === null ? "null" : JSON.stringify(usage);
    const line = `{"usage":${usageJson},"trace":${traceJson ?? "null"},"content":${content ?? "null"}}\n`;
    const buffer = Buffer.from(line);
    let entry: SpoolItem;
    if (traceJson === null) entry = { usage, trace: null, content };
    else {
      // Byte ranges of the trace and the content in the line: `{"usage":` U `,"trace":` T `,"content":` C `}\n`.
      const traceStart = 18 + Buffer.byteLength(usageJson);
      const contentLength = Buffer.byteLength(content ?? "null");
      const traceLength = buffer.length - 2 - contentLength - 11 - traceStart;
      const contentAt = content === null ? null : ([buffer.length - 2 - contentLength, contentLength] as const);
      entry = { usage, trace: TRACE_IN_LINE, content, line: buffer, traceAt: [traceStart, traceLength], contentAt, cols: traceColumns(trace!) };
    }
    const segment = this.active;
    // A short write would leave a torn line that replay skips: write until everything is out.
    let written = 0;
    try {
      while (written < buffer.length) written += writeSync(segment.fd, buffer, written);
      segment.bytes += buffer.length;
    } catch (error) {
      // Disk full or failing: the call is still answered and its record kept in memory for the next
      // batch, but a crash before that batch would lose it — say so loudly.
      if (this.writeErrorDue()) {
        this.options.log("error", "gateway cannot write its usage spool; records are only in memory until the next batch", { dir: this.options.dir, error: String(error) });
      }
      if (segment.diskOnly) {
        this.enqueue(entry, segment, line.length);
        return;
      }
    }
    if (segment.diskOnly) {
      segment.spilled++;
      this.spilled++;
      return;
    }
    this.enqueue(entry, segment, line.length);
    if (this.pending >= this.options.batchSize && !this.flushSoon) {
      this.flushSoon = true;
      setImmediate(() => {
        this.flushSoon = false;
        void this.flush();
      });
    }
  }

  private enqueue(item: SpoolItem, segment: Segment, bytes: number) {
    segment.unflushed++;
    this.queue.push(item);
    this.queueSegs.push(segment);
    this.queueBytes.push(bytes);
    this.queuedBytes += bytes;
  }

  private tick() {
    if (this.pending > 0) void this.flush();
    else if (this.overflow.length || this.active.diskOnly) this.drainOverflow();
  }

  /** Sends queued records to PostgreSQL in batches; on failure they stay queued (and on disk). */
  async flush(): Promise<void> {
    if (this.flushing || Date.now() < this.retryAt) return;
    this.flushing = true;
    try {
      while (this.pending > 0) {
        const end = Math.min(this.queue.length, this.head + this.options.batchSize);
        const batch = this.queue.slice(this.head, end) as SpoolItem[];
        const segs = new Set(this.queueSegs.slice(this.head, end));
        await Promise.all([...segs].map((s) => fdatasyncAsync(s.fd).catch(() => {})));
        await this.insert(batch);
        for (let i = this.head; i < end; i++) {
          this.queue[i] = null;
          this.queueSegs[i].unflushed--;
          this.queuedBytes -= this.queueBytes[i];
        }
        this.head = end;
        this.committed += batch.length;
        for (const s of segs) this.release(s);
        this.compact();
        this.failures = 0;
        if (this.pending < this.options.batchSize) break;
      }
    } catch (error) {
      this.failures++;
      this.retryAt = Date.now() + Math.min(5000, 100 * 2 ** Math.min(this.failures, 6));
      if (this.failures === 1 || this.failures % 20 === 0) {
        this.options.log("warn", "gateway could not write usage to PostgreSQL; records stay in the spool", { pending: this.unsent, error: String(error) });
      }
    } finally {
      this.flushing = false;
    }
  }

  private compact() {
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.queueSegs = this.queueSegs.slice(this.head);
      this.queueBytes = this.queueBytes.slice(this.head);
      this.head = 0;
    }
  }

  /** Deletes a sealed segment whose records are all committed; empties the active one. */
  private release(s: Segment) {
    if (s.unflushed > 0 || s.diskOnly) return;
    if (s.sealed) {
      closeSync(s.fd);
      rmSync(s.path, { force: true });
      this.segments.delete(s);
    } else if (s.bytes > 0 && s === this.active) {
      ftruncateSync(s.fd, 0);
      s.bytes = 0;
    }
  }

  /** The usage rows and the trace rows of a batch, in one statement (so in one transaction). */
  private async write(items: SpoolItem[], withContent = true): Promise<void> {
    const usage: UsageEntry[] = [];
    const traces: SpoolItem[] = [];
    for (const item of items) {
      if (item.usage) usage.push(item.usage);
      if (item.trace) traces.push(item);
    }
    if (traces.length === 0) {
      if (usage.length > 0) await this.options.pool.query(INSERT_SQL, insertParams(usage));
      return;
    }
    const records = await deflateTraces(traces, { where: this.options.traceCompression, onWorkerError: this.onDeflateError });
    await this.options.pool.query(USAGE_AND_TRACE_SQL, [...insertParams(usage), ...traceParams(traces, records, withContent)]);
  }

  /** The compression worker failed (this batch was compressed on the event loop): said once a minute at most. */
  private readonly onDeflateError = (error: unknown) => {
    if (this.deflateErrorDue()) this.options.log("warn", "gateway compressed traces on its event loop: its compression worker failed", { error: String(error) });
  };

  private async insert(items: SpoolItem[]): Promise<void> {
    if (items.length === 0) return;
    try {
      await this.write(items);
    } catch (error) {
      if (!badRecord(error)) throw error;
      // A record PostgreSQL refuses must not block the others: insert one by one, set the bad one aside.
      if (items.length > 1) {
        for (const item of items) await this.insert([item]);
        return;
      }
      await this.salvage(items[0], error);
    }
  }

  /**
   * One line PostgreSQL refuses: without its captured content, then the usage record alone (what
   * is billed matters most); what still cannot go in is set aside in rejected-usage.jsonl.
   */
  private async salvage(item: SpoolItem, error: unknown) {
    if (item.content !== null) {
      try {
        await this.write([item], false);
        this.options.log("warn", "gateway stored a trace without its captured content, which PostgreSQL refused", { recordId: item.usage?.requestId, error: String(error) });
        return;
      } catch (again) {
        if (!badRecord(again)) throw again;
      }
    }
    if (item.usage && item.trace) {
      try {
        await this.write([{ usage: item.usage, trace: null, content: null }]);
        this.reject({ usage: null, trace: traceJsonOf(item), content: item.content }, error);
        return;
      } catch (again) {
        if (!badRecord(again)) throw again;
      }
    }
    this.reject(item, error);
  }

  private reject(item: SpoolItem, error: unknown) {
    const line = `{"entry":${item.usage ? JSON.stringify(item.usage) : "null"},"trace":${traceJsonOf(item) ?? "null"},"error":${JSON.stringify(String(error))}}\n`;
    appendFileSync(path.join(this.options.dir, "..", "rejected-usage.jsonl"), line);
    this.options.log("error", `gateway set aside ${item.usage ? "a usage record" : "a trace"} PostgreSQL refused`, { requestId: item.usage?.requestId, error: String(error) });
  }

  /** Replays the disk-only segments written while the queue was full, once the queue has drained. */
  private drainOverflow() {
    if (this.active.diskOnly) this.rotate(false);
    for (const s of this.overflow.splice(0)) {
      closeSync(s.fd);
      this.segments.delete(s);
      this.replayQueue.push({ file: s.path, dir: null, spilled: s.spilled });
    }
    this.kickReplay();
  }

  // ---- replay ----

  /** Claims the spool directories of dead gateway processes next to ours. */
  private claimDeadSiblings() {
    const root = path.dirname(this.options.dir);
    let names: string[];
    try {
      names = readdirSync(root);
    } catch {
      return;
    }
    for (const name of names) {
      const dir = path.join(root, name);
      if (dir === this.options.dir) continue;
      const owner = readOwner(dir);
      if (!owner || ownerAlive(owner)) continue;
      const claimed = path.join(root, `.replay-${process.pid}-${randomBytes(4).toString("hex")}`);
      try {
        // Atomic: when two gateways race for the same directory, one rename fails.
        renameSync(dir, claimed);
      } catch {
        continue;
      }
      writeOwner(claimed);
      const files = readdirSync(claimed).filter((f) => f.endsWith(".jsonl"));
      this.options.log("info", "gateway replays the usage spool of a dead process", { pid: owner.pid, files: files.length });
      for (const f of files) this.replayQueue.push({ file: path.join(claimed, f), dir: claimed });
      if (files.length === 0) this.removeClaimed(claimed);
    }
  }

  private removeClaimed(dir: string) {
    try {
      rmSync(path.join(dir, "owner"), { force: true });
      rmdirSync(dir);
    } catch {
      // Not empty yet (another file still to replay) or already gone.
    }
  }

  private kickReplay() {
    if (this.replaying || this.replayQueue.length === 0 || this.closed) return;
    this.replaying = this.replayAll().finally(() => {
      this.replaying = null;
    });
  }

  /** Replays queued files one by one; a file is deleted only once all its records are committed. */
  private async replayAll() {
    while (this.replayQueue.length > 0) {
      const { file, dir, spilled } = this.replayQueue[0];
      try {
        await this.replayFile(file);
      } catch (error) {
        this.options.log("warn", "gateway will retry replaying a usage spool file", { file, error: String(error) });
        await new Promise((r) => setTimeout(r, 1000).unref());
        if (this.closed) return;
        continue;
      }
      this.replayQueue.shift();
      if (spilled) this.spilled -= spilled;
      if (dir && !this.replayQueue.some((q) => q.dir === dir)) this.removeClaimed(dir);
    }
  }

  async replayFile(file: string) {
    if (!existsSync(file)) return;
    const text = readFileSync(file, "utf8");
    let batch: SpoolItem[] = [];
    for (const line of text.split("\n")) {
      if (!line) continue;
      try {
        batch.push(parseLine(line));
      } catch {
        // A torn last line from a machine crash: that request never got its response.
        continue;
      }
      if (batch.length >= REPLAY_BATCH) {
        await this.insert(batch);
        this.committed += batch.length;
        batch = [];
      }
    }
    await this.insert(batch);
    this.committed += batch.length;
    rmSync(file, { force: true });
  }

  /** Waits until every record appended so far and every file found is in PostgreSQL (tests, shutdown). */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      this.retryAt = 0;
      await this.flush();
      if (this.pending === 0 && (this.overflow.length || this.active.diskOnly)) this.drainOverflow();
      if (this.replaying) await Promise.race([this.replaying, new Promise((r) => setTimeout(r, 200))]);
      else this.kickReplay();
      if (this.pending === 0 && this.replayQueue.length === 0 && !this.replaying && this.overflow.length === 0 && !this.active.diskOnly) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  /** Flushes what it can; the directory is removed only when nothing is left in it. */
  async close(timeoutMs = 10_000) {
    const drained = await this.drain(timeoutMs);
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    for (const s of this.segments) {
      try {
        closeSync(s.fd);
      } catch {
        // already closed
      }
      if (drained && s.unflushed === 0 && !s.diskOnly) rmSync(s.path, { force: true });
    }
    if (drained) {
      try {
        unlinkSync(path.join(this.options.dir, "owner"));
        rmdirSync(this.options.dir);
      } catch {
        // Files left (records not yet committed): the next gateway to start replays them.
      }
    } else {
      this.options.log("warn", "gateway stopped with usage records not yet in PostgreSQL; the next gateway start replays them", { dir: this.options.dir, pending: this.unsent });
    }
  }
}
