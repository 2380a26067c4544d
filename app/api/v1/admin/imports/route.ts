import { uploadImport } from "@/server/exports/http";

export const dynamic = "force-dynamic";
// An import loads every usage record and trace of the archive before it answers.
export const maxDuration = 900;

export async function POST(req: Request) {
  return uploadImport(req);
}
