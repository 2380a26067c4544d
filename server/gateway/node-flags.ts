/**
 * The V8 flags every launch of the gateway passes to node (npm start, npm run gateway, the e2e
 * server, the tests' and the benchmark's gateways; workers of GATEWAY_WORKERS inherit them).
 *
 * A young generation of 32 MiB from the start. By default V8 starts it at about 1 MiB a
 * semi-space and grows it only when many objects survive, which a gateway's short-lived requests
 * never make happen: at 500 req/s it collected the young generation ~9 times a second, objects
 * that live a few hundred milliseconds (spooled records waiting for their batch, calls in flight)
 * survived two collections and were promoted, and the old generation then needed a full
 * mark-compact every ~2 s — the pauses behind most of the p99 tail. With 32 MiB: ~2 scavenges a
 * second, and one mark-compact in 18 s instead of 8 (docs/gateway.md, "A larger young
 * generation"). Costs ~20 MB of resident memory (300–306 MB over 1M requests, against 277–285).
 */
export const GATEWAY_NODE_FLAGS = ["--min-semi-space-size=32", "--max-semi-space-size=32"] as const;

/** Whether this process was started with them (main.ts says so in its log when not). */
export function startedWithGatewayFlags(execArgv: readonly string[] = process.execArgv): boolean {
  return GATEWAY_NODE_FLAGS.every((flag) => execArgv.includes(flag));
}
