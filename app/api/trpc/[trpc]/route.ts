import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { randomUUID } from "node:crypto";
import { createContext } from "@/server/api/context";
import { appRouter } from "@/server/api/root";
import { getSession } from "@/server/auth";

export const dynamic = "force-dynamic";

async function handler(req: Request) {
  const requestId = req.headers.get("x-request-id") ?? randomUUID();
  const session = await getSession();
  const response = await fetchRequestHandler({
    endpoint: "/api/trpc",
    req,
    router: appRouter,
    createContext: () =>
      createContext({
        userId: session?.user?.id ?? null,
        ip: req.headers.get("x-forwarded-for")?.split(",")[0]?.trim() ?? null,
        requestId,
      }),
  });
  response.headers.set("x-request-id", requestId);
  return response;
}

export { handler as GET, handler as POST };
