import ipaddr from 'ipaddr.js';

/**
 * The IPv4 address an IPv6 address carries, where it is one of the forms that embed one: mapped
 * (::ffff:a.b.c.d), compatible (::a.b.c.d, deprecated), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
 */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const parts = address.parts;
  const word = (high: number, low: number) => new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
  if (address.isIPv4MappedAddress()) return address.toIPv4Address();
  if (parts.slice(0, 6).every((part) => part === 0)) return word(parts[6] ?? 0, parts[7] ?? 0);
  if (address.range() === 'rfc6052') return word(parts[6] ?? 0, parts[7] ?? 0);
  if (address.range() === '6to4') return word(parts[1] ?? 0, parts[2] ?? 0);
  return undefined;
}

/**
 * True when `address` (an IP literal) is anything but public unicast: private, loopback,
 * link-local (cloud metadata), CGNAT, reserved, discard, site-local, multicast, … Only ipaddr.js's
 * `unicast` range passes; an IPv6 address that embeds an IPv4 one (mapped, compatible, NAT64,
 * 6to4) is judged as that IPv4 address, and Teredo (whose client address is hidden) is refused.
 */
export function isBlockedAddress(address: string): boolean {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  } catch {
    return true; // not an address we understand: refuse
  }
  if (parsed.kind() === 'ipv6') {
    const embedded = embeddedIPv4(parsed as ipaddr.IPv6);
    if (embedded) return embedded.range() !== 'unicast';
  }
  return parsed.range() !== 'unicast';
}
