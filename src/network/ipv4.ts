/** IPv4 addresses and CIDR blocks as unsigned 32-bit numbers. */
import { CtrError } from '../util/errors';

export interface Cidr {
  /** network address (host bits cleared) */
  base: number;
  prefix: number;
}

/** The address as a number, or undefined when TEXT is not a dotted quad. */
export function parseIp(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || (m[i + 1]!.length > 1 && m[i + 1]!.startsWith('0')))) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `A.B.C.D/N`; WHAT names the option in the error ("--subnet"). Host bits must be clear. */
export function parseCidr(text: string, what: string): Cidr {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  const ip = m ? parseIp(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix >= 0 && prefix <= 32))
    throw new CtrError(`invalid ${what} "${text}": give an IPv4 block such as 10.89.5.0/24`);
  const base = (ip & mask(prefix)) >>> 0;
  if (base !== ip) throw new CtrError(`invalid ${what} "${text}": host bits are set (did you mean ${formatIp(base)}/${prefix}?)`);
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & mask(c.prefix)) >>> 0) === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return contains(a, b.base) || contains(b, a.base);
}

/** The last address of the block (its broadcast address when the block is a subnet). */
export function last(c: Cidr): number {
  return (c.base + size(c) - 1) >>> 0;
}
