/**
 * Whether this installation is the demo: `ENCLAVE_DEMO=1` or `0` decides; otherwise it is the demo
 * exactly when no DATABASE_URL is given (the embedded PostgreSQL). Only the demo gets demo data and
 * its demo logins (known passwords); any other installation starts with no account at all.
 */
export function demoMode(env: Record<string, string | undefined> = process.env): boolean {
  const flag = env.ENCLAVE_DEMO?.trim().toLowerCase();
  if (flag === "1" || flag === "true") return true;
  if (flag === "0" || flag === "false") return false;
  if (flag) throw new Error(`ENCLAVE_DEMO must be 1 or 0, not "${env.ENCLAVE_DEMO}"`);
  return !env.DATABASE_URL;
}

/**
 * Waits until the demo deployment answers a real chat completion through the gateway (the model
 * server is started by the workers after the console is up), so that the OpenAI lines printed
 * next work when pasted. One token is asked for; it is recorded as usage of the demo key.
 */
export async function waitForDemoModel(options: { baseUrl: string; apiKey: string; model: string; timeoutMs: number; intervalMs?: number }): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${options.baseUrl}/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${options.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ model: options.model, messages: [{ role: "user", content: "ping" }], max_tokens: 1 }),
        signal: AbortSignal.timeout(30_000),
      });
      await res.body?.cancel().catch(() => undefined);
      if (res.ok) return true;
    } catch {
      // not listening yet, or timed out: try again
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 2_000));
  }
  return false;
}
