/**
 * `npm start`: everything Enclave needs, on one machine, in one command.
 * PostgreSQL (embedded under .data/ unless DATABASE_URL is set) → migrations → demo data (demo
 * installations only, scripts/lib/demo.ts) → console build (when sources changed) → console +
 * workers + gateway. Ctrl-C stops all of it.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { ChildProcess } from "node:child_process";
import { DEMO_KEY_FILE, DEMO_LOGINS, DEMO_WORKLOAD } from "../prisma/seed-data";
import { RUNNING_FILE, accountCheck, migrate, seed, type RunningInfo } from "./lib/database";
import { demoMode, waitForDemoModel } from "./lib/demo";
import { normaliseGatewayPublicUrl } from "../server/env";
import { startEmbeddedPostgres, superviseShutdownSignals, type EmbeddedDatabase } from "./lib/embedded-postgres";
import { stopAllLocalReplicas } from "../workers/drivers/local";
import { GATEWAY_NODE_FLAGS } from "../server/gateway/node-flags";
import { BIN, ROOT, buildConsoleIfNeeded, startService, stopService, waitForHttp } from "./lib/processes";

const log = (line: string) => console.log(`[enclave] ${line}`);
const DATA_DIR = path.join(ROOT, ".data");

/** A stable session secret for this installation, generated once and kept under .data/. */
function sessionSecret(): string {
  if (process.env.NEXTAUTH_SECRET) return process.env.NEXTAUTH_SECRET;
  const file = path.join(DATA_DIR, "nextauth-secret");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(DATA_DIR, { recursive: true });
  const secret = randomBytes(32).toString("base64url");
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}

async function main() {
  const port = Number(process.env.PORT ?? 3000);
  const gatewayPort = Number(process.env.GATEWAY_PORT ?? 8080);
  const workersMetricsPort = Number(process.env.WORKERS_METRICS_PORT ?? 8081);
  const children: ChildProcess[] = [];
  let database: EmbeddedDatabase | null = null;
  let stopping = false;

  async function shutdown(code: number) {
    if (stopping) return;
    stopping = true;
    log("stopping…");
    await Promise.all(children.map((c) => stopService(c)));
    // Model servers of the on-premises demo cluster run detached (like pods outliving their
    // controller); on a laptop, Ctrl-C should leave nothing behind. The next start restarts them.
    const stopped = await stopAllLocalReplicas().catch(() => []);
    if (stopped.length) log(`stopped ${stopped.length} local model server(s)`);
    if (database) {
      await database.stop();
      log("PostgreSQL stopped");
    }
    process.exit(code);
  }
  superviseShutdownSignals();
  process.on("SIGINT", () => void shutdown(0));
  process.on("SIGTERM", () => void shutdown(0));

  let demo: boolean;
  try {
    demo = demoMode(process.env);
  } catch (error) {
    console.error(String(error instanceof Error ? error.message : error));
    return process.exit(1);
  }
  let databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) {
    log("using the database in DATABASE_URL");
  } else {
    database = await startEmbeddedPostgres({
      dataDir: path.join(DATA_DIR, "pg"),
      database: "enclave",
      port: Number(process.env.ENCLAVE_PG_PORT ?? 54329),
      log,
    });
    databaseUrl = database.url;
    log(`embedded PostgreSQL running (${databaseUrl.replace(/:[^:@/]+@/, ":***@")})`);
  }

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production",
    DATABASE_URL: databaseUrl,
    NEXTAUTH_SECRET: sessionSecret(),
    NEXTAUTH_URL: process.env.NEXTAUTH_URL ?? `http://localhost:${port}`,
    NEXT_TELEMETRY_DISABLED: "1",
    GATEWAY_PORT: String(gatewayPort),
    WORKERS_METRICS_PORT: String(workersMetricsPort),
    GATEWAY_PUBLIC_URL: normaliseGatewayPublicUrl(process.env.GATEWAY_PUBLIC_URL ?? `http://localhost:${gatewayPort}/v1`),
    ENCLAVE_DEMO: demo ? "1" : "0",
  };

  const running: RunningInfo = { consoleUrl: env.NEXTAUTH_URL!, ...(database ? { embeddedDatabaseUrl: databaseUrl } : {}) };
  mkdirSync(DATA_DIR, { recursive: true });
  writeFileSync(RUNNING_FILE, JSON.stringify(running) + "\n", { mode: 0o600 });

  try {
    log("applying migrations");
    await migrate(databaseUrl);
    if (demo) log("seeding demo data");
    else log("not a demo installation (DATABASE_URL set or ENCLAVE_DEMO=0): no demo data, no demo logins");
    await seed(databaseUrl, { demo });
    await buildConsoleIfNeeded(env, log);
  } catch (error) {
    console.error(String(error instanceof Error ? error.message : error));
    return shutdown(1);
  }

  const services: [string, string, string[]][] = [
    ["console", BIN("tsx"), ["scripts/console-server.ts", "--port", String(port)]],
    ["workers", BIN("tsx"), ["workers/index.ts"]],
    ["gateway", BIN("tsx"), [...GATEWAY_NODE_FLAGS, "server/gateway/main.ts"]],
  ];
  for (const [name, command, args] of services) {
    const child = startService(name, command, args, env);
    child.on("exit", (code, signal) => {
      if (stopping) return;
      log(`${name} exited (${signal ?? `code ${code}`}); stopping everything`);
      void shutdown(1);
    });
    children.push(child);
  }

  await waitForHttp(`http://localhost:${port}/signin`, 120_000);
  await waitForHttp(`http://localhost:${gatewayPort}/v1/models`, 60_000);
  const lines = ["", "  Enclave is running", `    Console   http://localhost:${port}`, `    Gateway   ${env.GATEWAY_PUBLIC_URL}`];
  // Prometheus text (docs/observability.md); served to loopback clients unless METRICS_TOKEN is set.
  lines.push(`    Metrics   http://localhost:${gatewayPort}/metrics (gateway), http://localhost:${workersMetricsPort}/metrics (workers)`, "");
  if (demo) {
    const tenantLines = DEMO_LOGINS.tenants.map((t) => `    ${t.email.padEnd(42)} ${t.password.padEnd(20)} ${t.role.toLowerCase()} of ${t.org}`);
    lines.push("  Demo logins", `    ${DEMO_LOGINS.admin.email.padEnd(42)} ${DEMO_LOGINS.admin.password.padEnd(20)} platform admin`, ...tenantLines, "");
  } else {
    const check = await accountCheck(databaseUrl, [DEMO_LOGINS.admin.email, ...DEMO_LOGINS.tenants.map((t) => t.email)]).catch(() => null);
    if (check && !check.hasPlatformAdmin) {
      lines.push(
        "  No platform admin yet. Create the first one (prints a one-time sign-in link), in another terminal:",
        "    npm run admin:create -- --email you@example.org",
        "",
      );
    }
    if (check?.demoAccounts.length) {
      lines.push(`  Warning: this database holds demo accounts whose passwords are published (${check.demoAccounts.join(", ")}): delete them or change their passwords.`, "");
    }
  }
  const demoKey = demo && existsSync(DEMO_KEY_FILE) ? readFileSync(DEMO_KEY_FILE, "utf8").trim() : null;
  if (demoKey) lines.push("  The demo model is starting; the OpenAI-compatible API lines follow as soon as it answers.", "");
  else if (demo) lines.push("  (The demo API key was replaced in the console: create one on the API keys page.)", "");
  lines.push("  Press Ctrl-C to stop the console, the workers, the gateway and the database.", "");
  console.log(lines.join("\n"));
  if (!demoKey) return;

  const ready = await waitForDemoModel({ baseUrl: `http://localhost:${gatewayPort}/v1`, apiKey: demoKey, model: DEMO_WORKLOAD.deployment, timeoutMs: 10 * 60_000 });
  if (stopping) return;
  if (!ready) {
    log(`the demo model did not answer within 10 minutes: see its page in the console (deployment ${DEMO_WORKLOAD.deployment}) and the [workers] lines above`);
    return;
  }
  console.log(
    [
      "",
      "  The demo model answers. OpenAI-compatible API (paste into a shell):",
      `    export OPENAI_BASE_URL=${env.GATEWAY_PUBLIC_URL}`,
      `    export OPENAI_API_KEY=${demoKey}`,
      `    export OPENAI_MODEL=${DEMO_WORKLOAD.deployment}`,
      `    curl -s $OPENAI_BASE_URL/chat/completions -H "Authorization: Bearer $OPENAI_API_KEY" -H 'Content-Type: application/json' \\`,
      `      -d '{"model":"'$OPENAI_MODEL'","messages":[{"role":"user","content":"Bonjour"}]}'`,
      "",
    ].join("\n"),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
