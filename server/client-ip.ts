/**
 * The client's address, which a client cannot forge: the TCP peer, unless the peer is one of
 * `TRUSTED_PROXIES` (addresses or CIDR ranges, comma-separated); then `X-Forwarded-For` is read
 * from the right, skipping trusted proxies, and the first untrusted hop is the client. The console
 * server (scripts/console-server.ts) stamps the result on each request as `x-enclave-client-ip`,
 * replacing whatever the client sent under that name.
 */
import { BlockList, isIP } from "node:net";

export const CLIENT_IP_HEADER = "x-enclave-client-ip";

const normalise = (address: string) => address.trim().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, "$1");

export function parseTrustedProxies(spec: string | undefined): BlockList {
  const list = new BlockList();
  for (const raw of (spec ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    const [address, bits] = raw.split("/");
    const family = isIP(address!);
    if (!family) throw new Error(`TRUSTED_PROXIES: "${raw}" is not an IP address or CIDR range`);
    const type = family === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) list.addAddress(address!, type);
    else {
      const prefix = Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) throw new Error(`TRUSTED_PROXIES: "${raw}" has an invalid prefix length`);
      list.addSubnet(address!, prefix, type);
    }
  }
  return list;
}

function isTrusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? "ipv6" : "ipv4");
}

export function resolveClientIp(peer: string | undefined | null, forwardedFor: string | string[] | undefined | null, trusted: BlockList): string | null {
  if (!peer) return null;
  let client = normalise(peer);
  if (!isTrusted(trusted, client)) return client;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : (forwardedFor ?? "")).split(",").map(normalise).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (!isIP(hop)) return client; // garbage in the chain: stop at the last address we could trust
    client = hop;
    if (!isTrusted(trusted, hop)) return hop;
  }
  return client;
}

/** For route handlers: the address the console server stamped, or null when none was. */
export function clientIpFromHeaders(headers: Headers | Record<string, string | string[] | undefined> | undefined): string | null {
  if (!headers) return null;
  const value = headers instanceof Headers ? headers.get(CLIENT_IP_HEADER) : headers[CLIENT_IP_HEADER];
  const ip = Array.isArray(value) ? value[0] : value;
  return ip && isIP(ip) ? ip : null;
}
