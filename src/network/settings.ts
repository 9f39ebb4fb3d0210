/** A container's NetworkSettings.Networks and its address fields, in Docker's inspect shape. */
import { sha256HexOf } from '../util/sha256';
import type { ContainerRecord } from '../container/types';

export function networkSettings(rec: ContainerRecord): Record<string, unknown> {
  const eps = Object.entries(rec.networks ?? {});
  const networks: Record<string, unknown> = {};
  for (const [name, ep] of eps) {
    networks[name] = {
      IPAMConfig: ep.static ? { IPv4Address: ep.ip } : null,
      Links: null,
      Aliases: ep.aliases.length ? ep.aliases : null,
      NetworkID: ep.networkId,
      EndpointID: sha256HexOf(`${rec.id} ${ep.networkId}`),
      Gateway: ep.gateway,
      IPAddress: ep.ip,
      IPPrefixLen: ep.prefix,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      MacAddress: ep.mac,
      DriverOpts: null,
    };
  }
  // the first network's address at the top, as Podman shows it
  const first = eps[0]?.[1];
  return {
    IPAddress: first?.ip ?? '',
    IPPrefixLen: first?.prefix ?? 0,
    Gateway: first?.gateway ?? '',
    MacAddress: first?.mac ?? '',
    Networks: networks,
  };
}
