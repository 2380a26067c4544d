import Link from "next/link";

export default function NotFound() {
  return (
    <main className="mx-auto max-w-lg p-6">
      <h1 className="text-lg font-semibold">This page does not exist</h1>
      <Link href="/" className="mt-2 inline-block text-sm font-medium text-brand-700 underline">Go to your console</Link>
    </main>
  );
}
