import { z } from "zod";

const schema = z
  .object({
    DATABASE_URL: z.string().url("DATABASE_URL must be a postgresql:// URL"),
    NEXTAUTH_SECRET: z.string().min(32, "NEXTAUTH_SECRET must be at least 32 characters (npm start generates one)"),
    NEXTAUTH_URL: z.string().url().optional(),
    // Any OpenID Connect provider: Keycloak, ProConnect, Azure AD, …
    OIDC_ISSUER: z.string().url().optional(),
    OIDC_CLIENT_ID: z.string().min(1).optional(),
    OIDC_CLIENT_SECRET: z.string().min(1).optional(),
    OIDC_DISPLAY_NAME: z.string().min(1).default("Single sign-on"),
    // The gateway's OpenAI-compatible base URL as programs reach it (shown in the console's snippets).
    GATEWAY_PUBLIC_URL: z
      .string()
      .url("GATEWAY_PUBLIC_URL must be a URL such as https://api.example.org/v1")
      .default("http://localhost:8080/v1")
      .transform(normaliseGatewayPublicUrl),
  })
  .superRefine((env, ctx) => {
    const oidc = [env.OIDC_ISSUER, env.OIDC_CLIENT_ID, env.OIDC_CLIENT_SECRET];
    if (oidc.some(Boolean) && !oidc.every(Boolean)) {
      ctx.addIssue({ code: "custom", path: ["OIDC_ISSUER"], message: "set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET together, or none of them" });
    }
  });

export type Env = z.infer<typeof schema>;

/**
 * The gateway serves the OpenAI API under `/v1`, and clients append `/chat/completions` to the
 * base URL: "https://api.example.org" or ".../" becomes "https://api.example.org/v1" (a path
 * prefix is kept: "https://example.org/enclave" → "https://example.org/enclave/v1").
 */
export function normaliseGatewayPublicUrl(url: string): string {
  const parsed = new URL(url);
  const pathname = parsed.pathname.replace(/\/+$/, "");
  parsed.pathname = /\/v1$/.test(pathname) ? pathname : `${pathname}/v1`;
  return parsed.toString().replace(/\/+$/, "");
}

let cached: Env | undefined;

/** The validated environment; fails fast with every problem listed. Read lazily so `next build` needs no secrets. */
export function env(): Env {
  if (cached) return cached;
  const parsed = schema.safeParse(process.env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  - ${i.path.join(".") || "environment"}: ${i.message}`).join("\n");
    throw new Error(`Enclave cannot start, the environment is invalid:\n${problems}`);
  }
  mailEnv(); // the console queues mail: an invalid SMTP_URL or MAIL_FROM stops it here too
  cached = parsed.data;
  return cached;
}

export function oidcConfigured(): boolean {
  const e = env();
  return Boolean(e.OIDC_ISSUER && e.OIDC_CLIENT_ID && e.OIDC_CLIENT_SECRET);
}

/**
 * The verifiable audit log's settings (docs/audit-log.md). Parsed apart from env() so that the
 * workers and the export scripts, which have no session secret, can read them.
 */
const auditSchema = z.object({
  // base64 of the 32-byte Ed25519 seed; else AUDIT_SIGNING_KEY_FILE; else generated into .data/.
  AUDIT_SIGNING_KEY: z
    .string()
    .refine((v) => Buffer.from(v, "base64").length === 32, "AUDIT_SIGNING_KEY must be base64 of a 32-byte Ed25519 seed")
    .optional(),
  AUDIT_SIGNING_KEY_FILE: z.string().min(1).optional(),
  // The key name and origin prefix of checkpoints; default: the host of NEXTAUTH_URL.
  AUDIT_LOG_ORIGIN: z
    .string()
    .regex(/^[^\s+]+$/, "AUDIT_LOG_ORIGIN is a name without spaces or '+', such as enclave.example.eu")
    .optional(),
  NEXTAUTH_URL: z.string().url().optional(),
  AUDIT_CHECKPOINT_INTERVAL_SECONDS: z.coerce.number().int().min(10, "AUDIT_CHECKPOINT_INTERVAL_SECONDS is at least 10").default(300),
  // A C2SP tlog-witness (its base URL; add-checkpoint is POSTed under it) and its cosignature vkey.
  AUDIT_WITNESS_URL: z.string().url("AUDIT_WITNESS_URL must be a URL").optional(),
  AUDIT_WITNESS_KEY: z.string().min(1).optional(),
});

export type AuditEnv = z.infer<typeof auditSchema>;

export function auditEnv(source: NodeJS.ProcessEnv = process.env): AuditEnv {
  const values = Object.fromEntries(Object.entries(source).filter(([k, v]) => k in auditSchema.shape && v !== ""));
  const parsed = auditSchema.safeParse(values);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  - ${i.path.join(".") || "environment"}: ${i.message}`).join("\n");
    throw new Error(`The audit log settings are invalid:\n${problems}`);
  }
  if (Boolean(parsed.data.AUDIT_WITNESS_URL) !== Boolean(parsed.data.AUDIT_WITNESS_KEY)) {
    throw new Error("The audit log settings are invalid:\n  - AUDIT_WITNESS_URL: set AUDIT_WITNESS_URL and AUDIT_WITNESS_KEY together, or neither");
  }
  return parsed.data;
}

/**
 * Outgoing mail (docs/email.md). Parsed apart from env() so that the workers, which send the mail
 * and have no session secret, can read it. Without SMTP_URL, mail stays in the admin outbox.
 */
const mailSchema = z.object({
  SMTP_URL: z
    .string()
    .refine((v) => {
      try {
        return ["smtp:", "smtps:"].includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, "SMTP_URL must be an smtp:// or smtps:// URL such as smtps://user:password@mail.example.eu:465") // never echo the value: it holds the password
    .optional(),
  MAIL_FROM: z.string().trim().min(3).max(320).regex(/^[^\r\n]*@[^\r\n]*$/, "MAIL_FROM must be a sender address such as Enclave <no-reply@example.eu>").default("Enclave <no-reply@localhost>"),
  NEXTAUTH_URL: z.string().url().optional(),
});

export type MailEnv = z.infer<typeof mailSchema>;

export function mailEnv(source: Record<string, string | undefined> = process.env): MailEnv {
  const values = Object.fromEntries(Object.entries(source).filter(([k, v]) => k in mailSchema.shape && v !== ""));
  const parsed = mailSchema.safeParse(values);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  - ${i.path.join(".") || "environment"}: ${i.message}`).join("\n");
    throw new Error(`The mail settings are invalid:\n${problems}`);
  }
  return parsed.data;
}
