import { downloadExport } from "@/server/exports/http";

export const dynamic = "force-dynamic";

export async function GET(req: Request, { params }: { params: Promise<{ orgId: string; exportId: string }> }) {
  return downloadExport(req, await params);
}
