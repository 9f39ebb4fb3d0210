import { describe, expect, it } from 'vitest';
import {
  formatPortsColumn, mappingsFromBindings, networkSettingsPorts, normalizeIp, overlaps, parseExpose, parsePublish, portBindings,
  portLines, portsAnnotation, publishedPorts,
} from '../../src/network/ports';

const m = (hostPort: number, containerPort: number, hostIp = '', proto: 'tcp' | 'udp' = 'tcp') => ({ proto, hostIp, hostPort, containerPort });

describe('-p parsing', () => {
  it('every shape Docker accepts', () => {
    expect(parsePublish('80')).toEqual([m(0, 80)]);
    expect(parsePublish('8080:80')).toEqual([m(8080, 80)]);
    expect(parsePublish('8080:80/udp')).toEqual([m(8080, 80, '', 'udp')]);
    expect(parsePublish('127.0.0.1:8080:80')).toEqual([m(8080, 80, '127.0.0.1')]);
    expect(parsePublish('127.0.0.1::80/tcp')).toEqual([m(0, 80, '127.0.0.1')]);
    expect(parsePublish('[::1]:8080:80')).toEqual([m(8080, 80, '::1')]);
    expect(parsePublish('[0:0::1]::80')).toEqual([m(0, 80, '::1')]);
    expect(parsePublish('8000-8002:80-82')).toEqual([m(8000, 80), m(8001, 81), m(8002, 82)]);
    expect(parsePublish('80-81')).toEqual([m(0, 80), m(0, 81)]);
  });

  it('refuses bad input with one clear message', () => {
    expect(() => parsePublish('0:80')).toThrow('invalid host port 0 in "0:80": ports are 1 to 65535');
    expect(() => parsePublish('80:0')).toThrow('invalid container port 0');
    expect(() => parsePublish('8080:65536')).toThrow('invalid container port 65536');
    expect(() => parsePublish('8080:80/sctp')).toThrow('invalid protocol "sctp"');
    expect(() => parsePublish('8080:80/')).not.toThrow();
    expect(() => parsePublish('1.2.3:8080:80')).toThrow('invalid IP address "1.2.3"');
    expect(() => parsePublish('[1.2.3.4]:8080:80')).toThrow('invalid IP address');
    expect(() => parsePublish('[::1]:80')).toThrow('invalid publish spec');
    expect(() => parsePublish('::1:8080:80')).toThrow('IPv6 address in brackets');
    expect(() => parsePublish('8000-8002:80-81')).toThrow('the host range has 3 ports, the container range 2');
    expect(() => parsePublish('82-80')).toThrow('the end is below the start');
    expect(() => parsePublish('http')).toThrow('not a number');
    expect(() => parsePublish('')).toThrow();
  });

  it('normalizes addresses', () => {
    expect(normalizeIp('::0001')).toBe('::1');
    expect(normalizeIp('10.0.0.1')).toBe('10.0.0.1');
    expect(normalizeIp('010.0.0.1')).toBeUndefined();
    expect(normalizeIp('fe80::1%eth0')).toBeUndefined();
    expect(normalizeIp('example.com')).toBeUndefined();
  });
});

describe('-P and --expose', () => {
  it('publishes every exposed port not published already', () => {
    expect(parseExpose('53/udp')).toEqual(['53/udp']);
    expect(parseExpose('8000-8001')).toEqual(['8000/tcp', '8001/tcp']);
    expect(() => parseExpose('70000')).toThrow('ports are 1 to 65535');
    expect(publishedPorts(['8080:80'], true, ['80/tcp', '443/tcp', '53/udp', 'junk'])).toEqual([m(8080, 80), m(0, 443), m(0, 53, '', 'udp')]);
    expect(publishedPorts([], false, ['80/tcp'])).toEqual([]);
    expect(() => publishedPorts(['8080:80', '8080:81'], false, [])).toThrow('host port 8080/tcp is published twice');
    expect(publishedPorts(['8080:80', '8080:80/udp'], false, [])).toHaveLength(2);
  });
});

describe('Docker shapes', () => {
  it('PortBindings both ways, the annotation', () => {
    const maps = [m(8080, 80), m(0, 80, '::1'), m(53, 53, '', 'udp')];
    const b = portBindings(maps);
    expect(b).toEqual({ '80/tcp': [{ HostIp: '', HostPort: '8080' }, { HostIp: '::1', HostPort: '' }], '53/udp': [{ HostIp: '', HostPort: '53' }] });
    expect(mappingsFromBindings(b)).toEqual([m(8080, 80), m(0, 80, '::1'), m(53, 53, '', 'udp')]);
    expect(mappingsFromBindings(null)).toEqual([]);
    expect(portsAnnotation(maps)).toBe('tcp/0.0.0.0/8080/80,tcp/::1/0/80,udp/0.0.0.0/53/53');
  });

  it('ps PORTS: ranges folded, exposed ports alone', () => {
    const actual = [m(8000, 80, '0.0.0.0'), m(8001, 81, '0.0.0.0'), m(8002, 82, '0.0.0.0'), m(9000, 90, '0.0.0.0'), m(5000, 53, '::1', 'udp')];
    expect(formatPortsColumn(['80/tcp', '443/tcp', '444/tcp', '53/udp'], actual))
      .toBe('0.0.0.0:8000-8002->80-82/tcp, 0.0.0.0:9000->90/tcp, [::1]:5000->53/udp, 443-444/tcp');
    expect(formatPortsColumn(['80/tcp'], undefined)).toBe('80/tcp');
    expect(formatPortsColumn([], [])).toBe('');
  });

  it('NetworkSettings.Ports and `port` lines', () => {
    expect(networkSettingsPorts(['80/tcp', '443/tcp'], [m(8080, 80, '0.0.0.0')])).toEqual({
      '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }],
      '443/tcp': null,
    });
    const actual = [m(5000, 53, '::1', 'udp'), m(8080, 80, '0.0.0.0')];
    expect(portLines(actual)).toEqual(['53/udp -> [::1]:5000', '80/tcp -> 0.0.0.0:8080']);
    expect(portLines(actual, '80')).toEqual(['0.0.0.0:8080']);
    expect(portLines(actual, '53/udp')).toEqual(['[::1]:5000']);
    expect(portLines(actual, '53')).toEqual([]);
    expect(() => portLines(actual, 'x')).toThrow('invalid port "x"');
  });

  it('which listeners clash', () => {
    expect(overlaps(m(80, 1), m(80, 2, '127.0.0.1'))).toBe(true);
    expect(overlaps(m(80, 1, '127.0.0.1'), m(80, 2, '127.0.0.2'))).toBe(false);
    expect(overlaps(m(80, 1, '::1'), m(80, 2))).toBe(false);
    expect(overlaps(m(80, 1, '', 'udp'), m(80, 2))).toBe(false);
    expect(overlaps(m(0, 1), m(0, 2))).toBe(false);
  });
});
