/**
 * Flags of the Node.js process that runs the gateway, wherever it is started: `npm start`
 * (scripts/start.ts), the e2e server, the tests' gateway processes, the benchmark, and `npm run
 * gateway` (package.json spells them out: keep them equal).
 *
 * `--no-memory-reducer`: V8's memory reducer runs a full mark-compact every few seconds when it
 * judges the allocation rate low — at 500 requests/s it still does, and each pause (3–17 ms) was
 * the p99 of the requests it caught. Paired runs at 500 req/s (docs/gateway.md, "What a trace row
 * costs PostgreSQL"): added p99 7.3 ms (7.1–8.0) without it against 14.6 ms (13.3–15.1) with it.
 * The old generation is still collected when it grows; only the idle-time shrinking is off.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ["--no-memory-reducer"];
