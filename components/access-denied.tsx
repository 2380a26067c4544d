"use client";
import Link from "next/link";
import { usePathname } from "next/navigation";

/** What app/forbidden.tsx says (the page answers 403): which area, and who can help. */
export function Forbidden() {
  const adminArea = usePathname().startsWith("/admin");
  return (
    <main className="mx-auto max-w-lg p-6">
      <div role="alert" className="rounded-lg border border-amber-300 bg-amber-50 p-4">
        <h1 className="text-lg font-semibold">{adminArea ? "You don't have access to the admin area" : "You don't have access to this page"}</h1>
        <p className="mt-1 text-sm text-slate-700">
          {adminArea
            ? "It is reserved for platform administrators. Ask one if you need something changed on the platform."
            : "Your account does not have the rights this page needs. Ask an administrator if you think it should."}
        </p>
        <Link href="/" className="mt-3 inline-block text-sm font-medium text-brand-700 underline">
          Back to your organisation
        </Link>
      </div>
    </main>
  );
}
