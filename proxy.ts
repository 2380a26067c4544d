import { NextResponse, type NextRequest } from "next/server";
import { pageContentSecurityPolicy } from "./server/security-headers";

/**
 * A fresh nonce and Content-Security-Policy for every page: on the request, where Next.js reads
 * the nonce for its own scripts while rendering, and on the response, where the browser enforces
 * it. The other security headers come from next.config.ts.
 */
export function proxy(request: NextRequest) {
  const nonce = Buffer.from(crypto.randomUUID()).toString("base64");
  const policy = pageContentSecurityPolicy(nonce, { development: process.env.NODE_ENV === "development" });
  const headers = new Headers(request.headers);
  headers.set("x-nonce", nonce);
  headers.set("Content-Security-Policy", policy);
  const response = NextResponse.next({ request: { headers } });
  response.headers.set("Content-Security-Policy", policy);
  return response;
}

export const config = {
  // Pages only: route handlers and static files get their headers from next.config.ts.
  matcher: [
    {
      source: "/((?!api/|_next/static/|_next/image/|favicon.ico).*)",
      missing: [
        { type: "header", key: "next-router-prefetch" },
        { type: "header", key: "purpose", value: "prefetch" },
      ],
    },
  ],
};
