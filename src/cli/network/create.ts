import { Command, Option } from 'clipanion';
import { createNetwork } from '../../network/store';
import { CtrError } from '../../util/errors';

/** KEY=VALUE pairs of a repeated option (a bare KEY is KEY=""). */
export function keyValues(list: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const i = item.indexOf('=');
    const k = i < 0 ? item : item.slice(0, i);
    if (!k) throw new CtrError(`invalid ${what} "${item}": give KEY=VALUE`);
    out[k] = i < 0 ? '' : item.slice(i + 1);
  }
  return out;
}

export class NetworkCreateCommand extends Command {
  static override paths = [['network', 'create']];
  static override usage = Command.Usage({
    description: 'Create a network',
    details: 'A bridge network in the per-user network namespace. Without --subnet, a free 10.89.N.0/24 is chosen; a fixed --ip for a container needs a network made with --subnet. Subnets of two networks may not overlap.',
    examples: [['A network with a subnet of its own', 'ctr network create --subnet 10.90.0.0/24 --gateway 10.90.0.1 backend']],
  });
  driver = Option.String('-d,--driver', { description: 'Driver (bridge)' });
  subnet = Option.Array('--subnet', [], { description: 'Subnet in CIDR form' });
  gateway = Option.Array('--gateway', [], { description: 'Gateway of the subnet' });
  ipRange = Option.Array('--ip-range', [], { description: 'Allocate container addresses from this block of the subnet' });
  internal = Option.Boolean('--internal', false, { description: 'No outside access' });
  ipv6 = Option.Boolean('--ipv6', false, { description: 'Enable IPv6 (not supported yet)' });
  label = Option.Array('--label', [], { description: 'Set metadata on the network' });
  opt = Option.Array('-o,--opt', [], { description: 'Driver options (mtu, com.docker.network.driver.mtu)' });
  name = Option.String();

  async execute(): Promise<number> {
    const net = createNetwork({
      name: this.name,
      driver: this.driver,
      subnets: this.subnet,
      gateways: this.gateway,
      ipRanges: this.ipRange,
      internal: this.internal,
      ipv6: this.ipv6,
      labels: keyValues(this.label, '--label'),
      options: keyValues(this.opt, '--opt'),
    });
    this.context.stdout.write(net.Id + '\n');
    return 0;
  }
}
