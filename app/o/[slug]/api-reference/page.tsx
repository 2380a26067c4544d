import type { Metadata } from "next";
import Link from "next/link";
import { ApiReference } from "@/components/api-reference/api-reference";
import { PageHeader } from "@/components/ui/layout";

export const metadata: Metadata = { title: "API reference" };

export default function Page() {
  return (
    <>
      <PageHeader
        title="API reference"
        description="Every console action is also a REST call under /api/v1, described by an OpenAPI 3.1 document. Programs authenticate with an API key that has the read or manage scope; “Try it” here uses your own session."
        actions={
          <a href="/api/v1/openapi.json" className="text-sm font-medium text-brand-700 underline" download="enclave-openapi.json">
            Download openapi.json
          </a>
        }
      />
      <p className="mb-4 text-sm text-slate-600">
        Authentication, idempotency, paging and errors are explained in the guide shipped with Enclave (docs/api.md). Create a key on the <Link href="api-keys" className="text-brand-700 underline">API keys</Link> page.
      </p>
      <ApiReference />
    </>
  );
}
