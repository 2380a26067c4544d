"use client";
import Link from "next/link";

/** Unexpected errors while rendering: a generic message and the digest to quote, never internals. */
export default function ErrorPage({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <main className="mx-auto max-w-lg p-6">
      <div role="alert" className="rounded-lg border border-red-200 bg-red-50 p-4">
        <h1 className="text-lg font-semibold text-red-900">Something went wrong on our side</h1>
        <p className="mt-1 text-sm text-red-800">The error was logged.{error.digest ? ` Reference: ${error.digest}.` : ""}</p>
        <div className="mt-3 flex gap-3 text-sm">
          <button type="button" onClick={reset} className="font-medium underline">Try again</button>
          <Link href="/" className="font-medium underline">Home</Link>
        </div>
      </div>
    </main>
  );
}
