/**
 * The console's security headers, in one place: next.config.ts sends the static ones with every
 * response (pages, API, static files), proxy.ts the page Content-Security-Policy with a fresh
 * nonce per request. Imports nothing: next.config.ts and the proxy load it before the app.
 */

type Header = { key: string; value: string };

/** Every response, whatever it is. */
export const STATIC_SECURITY_HEADERS: Header[] = [
  { key: "X-Content-Type-Options", value: "nosniff" },
  // Full URLs (which may carry an invitation or sign-in token) never leave the console's origin.
  { key: "Referrer-Policy", value: "same-origin" },
  // frame-ancestors 'none' (in every CSP below) for current browsers, this for older ones.
  { key: "X-Frame-Options", value: "DENY" },
  { key: "Permissions-Policy", value: "camera=(), microphone=(), geolocation=(), payment=(), usb=()" },
  { key: "Cross-Origin-Opener-Policy", value: "same-origin" },
];

/**
 * Sent only when the request reached us over https (`X-Forwarded-Proto: https` from the TLS proxy
 * in front). Browsers ignore it over plain http, so a forged header achieves nothing.
 */
export const HSTS_HEADER: Header = { key: "Strict-Transport-Security", value: "max-age=63072000; includeSubDomains" };
export const HTTPS_FORWARDED_PROTO = "https(\\s*,.*)?";

/** Route handlers (JSON, next-auth's few HTML pages): nothing runs, nothing frames them. */
export const API_CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * Pages. Scripts run only with this response's nonce (Next.js puts it on its own scripts) and
 * what they load ('strict-dynamic'). Styles may be inline: sonner injects its stylesheet at
 * runtime without a nonce, and React and recharts render style attributes; CSS cannot run code.
 * In development React needs eval for its error overlays.
 */
export function pageContentSecurityPolicy(nonce: string, options: { development?: boolean } = {}): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${options.development ? " 'unsafe-eval'" : ""}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}
