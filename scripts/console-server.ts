/**
 * The console's HTTP server: Next.js's request handler behind a plain Node server, so that the
 * client address is taken from the TCP socket (and `X-Forwarded-For` only from TRUSTED_PROXIES)
 * and stamped on the request before Next.js sees it. `next start` cannot do this: it keeps any
 * `X-Forwarded-For` a client sends. Usage: tsx scripts/console-server.ts --port 3000
 */
import { createServer } from "node:http";
import path from "node:path";
import next from "next";
import { CLIENT_IP_HEADER, parseTrustedProxies, resolveClientIp } from "../server/client-ip";

const portFlag = process.argv.indexOf("--port");
const port = Number(portFlag >= 0 ? process.argv[portFlag + 1] : (process.env.PORT ?? 3000));
const hostname = process.env.HOSTNAME_BIND ?? "0.0.0.0";
const trusted = parseTrustedProxies(process.env.TRUSTED_PROXIES);

const app = next({ dev: false, dir: path.resolve(import.meta.dirname, ".."), port, hostname: "localhost" });
await app.prepare();
const handle = app.getRequestHandler();

const server = createServer((req, res) => {
  const ip = resolveClientIp(req.socket.remoteAddress, req.headers["x-forwarded-for"], trusted);
  if (ip) req.headers[CLIENT_IP_HEADER] = ip;
  else delete req.headers[CLIENT_IP_HEADER];
  // Next.js fills X-Forwarded-For from the socket only when absent: give it the resolved address.
  if (ip) req.headers["x-forwarded-for"] = ip;
  void handle(req, res);
});
server.listen(port, hostname, () => console.log(`console ready on http://localhost:${port}`));

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 5_000).unref();
  });
}
