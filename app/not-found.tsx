import type { Metadata } from "next";
import Link from "next/link";

export const metadata: Metadata = { title: "Not found" };

/** A 404: no such page, or (server/page-access.ts) an organisation or deployment the person cannot see — the same answer for both. */
export default function NotFound() {
  return (
    <main className="mx-auto max-w-lg p-6">
      <h1 className="text-lg font-semibold">This page does not exist, or you do not have access to it</h1>
      <p className="mt-1 text-sm text-slate-700">If someone sent you a link to an organisation, ask them to invite you to it.</p>
      <Link href="/" className="mt-2 inline-block text-sm font-medium text-brand-700 underline">Go to your console</Link>
    </main>
  );
}
