/** Structured one-line JSON logs; errors are reduced to name, message and stack. */
type Level = "debug" | "info" | "warn" | "error";

function serialise(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

function write(level: Level, message: string, fields: Record<string, unknown> = {}) {
  const entry: Record<string, unknown> = { time: new Date().toISOString(), level, message };
  for (const [k, v] of Object.entries(fields)) entry[k] = serialise(v);
  const line = JSON.stringify(entry);
  if (level === "error" || level === "warn") process.stderr.write(line + "\n");
  else if (level !== "debug" || process.env.ENCLAVE_DEBUG) process.stdout.write(line + "\n");
}

export const logger = {
  debug: (m: string, f?: Record<string, unknown>) => write("debug", m, f),
  info: (m: string, f?: Record<string, unknown>) => write("info", m, f),
  warn: (m: string, f?: Record<string, unknown>) => write("warn", m, f),
  error: (m: string, f?: Record<string, unknown>) => write("error", m, f),
};
