import { describe, expect, it } from "vitest";
import { clientIpFromHeaders, parseTrustedProxies, resolveClientIp } from "@/server/client-ip";

describe("client addresses", () => {
  const none = parseTrustedProxies(undefined);
  const proxies = parseTrustedProxies("10.0.0.0/8, 192.0.2.10, fd00::/8");

  it("ignores X-Forwarded-For from a peer that is not a trusted proxy", () => {
    expect(resolveClientIp("203.0.113.9", "6.6.6.6", none)).toBe("203.0.113.9");
    expect(resolveClientIp("203.0.113.9", "6.6.6.6", proxies)).toBe("203.0.113.9");
    expect(resolveClientIp("::ffff:203.0.113.9", undefined, none)).toBe("203.0.113.9");
  });

  it("reads X-Forwarded-For from the right through trusted proxies only, so a client cannot prepend a forged hop", () => {
    expect(resolveClientIp("10.1.2.3", "198.51.100.7", proxies)).toBe("198.51.100.7");
    expect(resolveClientIp("10.1.2.3", "6.6.6.6, 198.51.100.7, 192.0.2.10", proxies)).toBe("198.51.100.7");
    expect(resolveClientIp("fd00::1", ["6.6.6.6", "2001:db8::5"], proxies)).toBe("2001:db8::5");
    // Only proxies in the chain: the furthest one is the best we know.
    expect(resolveClientIp("10.1.2.3", "10.9.9.9", proxies)).toBe("10.9.9.9");
    // Garbage stops the walk at the last trustworthy address.
    expect(resolveClientIp("10.1.2.3", "not-an-ip", proxies)).toBe("10.1.2.3");
  });

  it("refuses a malformed TRUSTED_PROXIES at start rather than trusting too much", () => {
    expect(() => parseTrustedProxies("10.0.0.0/33")).toThrow(/prefix/);
    expect(() => parseTrustedProxies("example.org")).toThrow(/not an IP/);
  });

  it("route handlers read only a well-formed stamped address", () => {
    expect(clientIpFromHeaders(new Headers({ "x-enclave-client-ip": "198.51.100.7" }))).toBe("198.51.100.7");
    expect(clientIpFromHeaders(new Headers({ "x-enclave-client-ip": "1.2.3.4, 5.6.7.8" }))).toBeNull();
    expect(clientIpFromHeaders(new Headers({ "x-forwarded-for": "6.6.6.6" }))).toBeNull();
  });
});
