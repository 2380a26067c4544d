/**
 * Traces as OTLP JSON (docs/export-format.md): one `ExportTraceServiceRequest` per line, per
 * gateway request, built by the OpenTelemetry SDK's own serializer from the same spans the gateway
 * exports to a collector (server/gateway/otlp.ts `toReadableSpans`), so any OTLP back end reads
 * them. The root span also carries `enclave.trace_record`: the stored TraceRecord as JSON (never
 * prompt or completion), from which an Enclave import restores the trace exactly.
 */
import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { toReadableSpans } from "../gateway/otlp";
import type { TraceRecord } from "../gateway/trace";

export const TRACE_RECORD_ATTRIBUTE = "enclave.trace_record";

const resource = resourceFromAttributes({ "service.name": "enclave-gateway" });
const scope = { name: "enclave-export" };

export function otlpJsonLine(record: TraceRecord): string {
  const { content: _content, ...stored } = record;
  const spans = toReadableSpans(record, resource, scope);
  spans[0].attributes[TRACE_RECORD_ATTRIBUTE] = JSON.stringify(stored);
  const bytes = JsonTraceSerializer.serializeRequest(spans as Parameters<typeof JsonTraceSerializer.serializeRequest>[0]);
  if (!bytes) throw new Error("the OTLP serializer returned nothing");
  return Buffer.from(bytes).toString("utf8");
}

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string };
}
interface OtlpLine {
  resourceSpans?: { scopeSpans?: { spans?: { traceId?: string; spanId?: string; attributes?: OtlpAttribute[] }[] }[] }[];
}

/** The TraceRecord an export line carries; throws with the reason when the line is not one. */
export function traceRecordFromOtlpLine(line: string): TraceRecord {
  let parsed: OtlpLine;
  try {
    parsed = JSON.parse(line) as OtlpLine;
  } catch {
    throw new Error("a traces line is not JSON");
  }
  for (const rs of parsed.resourceSpans ?? []) {
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        const attr = span.attributes?.find((a) => a.key === TRACE_RECORD_ATTRIBUTE);
        if (!attr?.value.stringValue) continue;
        const record = JSON.parse(attr.value.stringValue) as TraceRecord;
        if (record.version !== 1 || !/^[0-9a-f]{32}$/.test(record.traceId) || !/^[0-9a-f]{16}$/.test(record.spanId) || !Array.isArray(record.spans)) {
          throw new Error("a traces line carries a trace record of an unknown shape");
        }
        return record;
      }
    }
  }
  throw new Error(`a traces line has no span with ${TRACE_RECORD_ATTRIBUTE}`);
}
