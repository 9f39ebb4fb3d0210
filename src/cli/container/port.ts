import { Command, Option } from 'clipanion';
import { findContainer } from '../../container/store';
import { runtimeState } from '../../container/state';
import { portLines } from '../../network/ports';
import { CtrError } from '../../util/errors';

/** `ctr port CONTAINER [PORT[/PROTO]]`: the published ports of a running container (Docker's output). */
export class PortCommand extends Command {
  static override paths = [['port'], ['container', 'port']];
  static override usage = Command.Usage({ description: 'List port mappings or a specific mapping for the container', details: 'ctr port CONTAINER [PRIVATE_PORT[/PROTO]]' });
  container = Option.String({ required: true, name: 'container' });
  port = Option.String({ required: false, name: 'port' });

  async execute(): Promise<number> {
    const rec = findContainer(this.container);
    const st = runtimeState(rec);
    const actual = st.status === 'running' || st.status === 'paused' ? st.ports ?? [] : [];
    const out = portLines(actual, this.port);
    if (this.port !== undefined && !out.length) {
      const key = this.port.includes('/') ? this.port : `${this.port}/tcp`;
      throw new CtrError(`no public port '${key}' published for ${this.container}`, 1);
    }
    this.context.stdout.write(out.map((l) => l + '\n').join(''));
    return 0;
  }
}
