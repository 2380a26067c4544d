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
 *
 * The collector on the main thread only (`--single-threaded-gc`). By default V8 spreads a scavenge
 * and a full GC's marking over helper threads; on two cores shared with the model servers,
 * PostgreSQL and the clients, a pause then waits for helpers that are not running, and the helpers'
 * work competes with everything else. Paired runs both ways round (docs/gateway.md, "One thread
 * for the collector"): a shorter added p99 at 500 req/s in 7 of 8 pairs (median 8.6 ms against
 * 14.1), more requests per second at saturation in 6 of 8 (median +10 %), the gateway's CPU per
 * request there ~8 % lower; p50 unchanged.
 */
export const GATEWAY_NODE_FLAGS = ["--min-semi-space-size=32", "--max-semi-space-size=32", "--single-threaded-gc"] as const;

/** Whether this process was started with them (main.ts says so in its log when not). */
export function startedWithGatewayFlags(execArgv: readonly string[] = process.execArgv): boolean {
  return GATEWAY_NODE_FLAGS.every((flag) => execArgv.includes(flag));
}
