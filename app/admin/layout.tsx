import Link from "next/link";
import type { ReactNode } from "react";
import { ConsoleShell } from "@/components/shell/console-shell";
import { requireUser } from "@/server/session";

export const dynamic = "force-dynamic";

export default async function AdminLayout({ children }: { children: ReactNode }) {
  const user = await requireUser("/admin/regions");
  if (!user.platformAdmin) {
    return (
      <main className="mx-auto max-w-lg p-6">
        <div role="alert" className="rounded-lg border border-amber-300 bg-amber-50 p-4">
          <h1 className="text-lg font-semibold">You don&apos;t have access to the admin area</h1>
          <p className="mt-1 text-sm text-slate-700">It is reserved for platform administrators. Ask one if you need something changed on the platform.</p>
          <Link href="/" className="mt-3 inline-block text-sm font-medium text-brand-700 underline">Back to your organisation</Link>
        </div>
      </main>
    );
  }
  return <ConsoleShell orgSlug={null}>{children}</ConsoleShell>;
}
