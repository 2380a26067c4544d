import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { contextFromRequest, RequestRefused, requestIdFrom } from "@/server/api/http-context";
import { appRouter } from "@/server/api/root";

export const dynamic = "force-dynamic";

async function handler(req: Request) {
  const requestId = requestIdFrom(req);
  let ctx;
  try {
    ctx = await contextFromRequest(req, requestId);
  } catch (error) {
    if (!(error instanceof RequestRefused)) throw error;
    return Response.json({ error: { message: error.message, code: error.code } }, { status: error.status, headers: { "x-request-id": requestId } });
  }
  const response = await fetchRequestHandler({ endpoint: "/api/trpc", req, router: appRouter, createContext: () => ctx });
  response.headers.set("x-request-id", requestId);
  return response;
}

export { handler as GET, handler as POST };
