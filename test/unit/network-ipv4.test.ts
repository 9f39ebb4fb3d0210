import { describe, expect, it } from 'vitest';
import { contains, formatCidr, formatIp, last, overlaps, parseCidr, parseIp } from '../../src/network/ipv4';

describe('IPv4 addresses and blocks', () => {
  it('parses dotted quads strictly', () => {
    expect(parseIp('10.89.0.1')).toBe(0x0a590001);
    expect(formatIp(parseIp('255.255.255.255')!)).toBe('255.255.255.255');
    for (const bad of ['10.89.0', '10.89.0.256', '10.089.0.1', '1.2.3.4.5', ' 1.2.3.4', '']) expect(parseIp(bad), bad).toBeUndefined();
  });

  it('parses blocks, refusing host bits', () => {
    expect(formatCidr(parseCidr('10.89.0.0/24', 's'))).toBe('10.89.0.0/24');
    expect(formatIp(last(parseCidr('10.89.0.0/24', 's')))).toBe('10.89.0.255');
    expect(() => parseCidr('10.89.0.1/24', '--subnet')).toThrow(/host bits.*10\.89\.0\.0\/24/);
    expect(() => parseCidr('10.89.0.0/33', '--subnet')).toThrow(/invalid --subnet/);
    expect(formatCidr(parseCidr('0.0.0.0/0', 's'))).toBe('0.0.0.0/0');
  });

  it('tells containment and overlap', () => {
    const a = parseCidr('10.0.0.0/8', 's');
    const b = parseCidr('10.89.3.0/24', 's');
    const c = parseCidr('10.90.0.0/16', 's');
    expect(overlaps(a, b) && overlaps(b, a)).toBe(true);
    expect(overlaps(b, c)).toBe(false);
    expect(contains(b, parseIp('10.89.3.200')!)).toBe(true);
    expect(contains(b, parseIp('10.89.4.0')!)).toBe(false);
    expect(contains(parseCidr('128.0.0.0/1', 's'), parseIp('200.1.1.1')!)).toBe(true);
  });
});
