import * as fs from 'node:fs';
import { Command, Option } from 'clipanion';
import { createContainer } from '../../container/create';
import { startAttached, startDetached } from '../../container/runtime';
import { CreateOptionsCommand } from './create-options';
import { ensureImage } from '../../image/pull';
import { removeContainers } from '../../container/rm';
import { containerDir } from '../../container/store';
import { isActive, runtimeState } from '../../container/state';
import { isPortError } from '../../network/publish';
import { CtrError, isNoSpace } from '../../util/errors';

export class RunCommand extends CreateOptionsCommand {
  static override paths = [['run'], ['container', 'run']];
  /** plain command lines skip clipanion's state machine (src/cli/fastparse.ts) */
  static fastParse = true;
  static override usage = Command.Usage({ description: 'Run a command in a new container', details: 'ctr run [OPTIONS] IMAGE [COMMAND] [ARG...]' });
  detach = Option.Boolean('-d,--detach', false, { description: 'Run in the background and print the container ID' });
  detachKeys = Option.String('--detach-keys', { description: 'Key sequence for detaching (default ctrl-p,ctrl-q)' });
  sigProxy = Option.Boolean('--sig-proxy', true, { description: 'Forward received signals to the container' });

  async execute(): Promise<number> {
    await ensureImage(this.image, this.pull);
    const rec = createContainer(this.request({ stdin: this.interactive && !this.detach, stdout: !this.detach, stderr: !this.detach }));
    if (this.detach) {
      try {
        startDetached(rec);
      } catch (e) {
        // A start that found no room, or a port that cannot be had, leaves nothing: the container
        // would keep its name and its files, and starting it again is no better than a new run.
        if (this.rm || isNoSpace(e) || (e instanceof CtrError && isPortError(e.message))) removeContainers([rec]);
        throw e;
      }
      this.context.stdout.write(rec.id + '\n');
      return 0;
    }
    let code: number;
    try {
      code = await startAttached(rec, {
        stdin: this.interactive,
        tty: this.tty,
        detachKeys: this.detachKeys,
        sigProxy: this.sigProxy && !this.tty,
      });
    } catch (e) {
      // not started at all (the start lock, the runtime dir, no room, a port): --rm leaves nothing
      if ((this.rm || isNoSpace(e) || (e instanceof CtrError && isPortError(e.message))) && fs.existsSync(containerDir(rec.id)) && !isActive(runtimeState(rec)))
        removeContainers([rec]);
      throw e;
    }
    // The monitor removes --rm containers itself; this covers a helper that failed before it ran,
    // a start that found no room and a port that could not be had.
    if (fs.existsSync(containerDir(rec.id))) {
      const st = runtimeState(rec);
      if ((this.rm || (code === 125 && (isNoSpace(st.error) || isPortError(st.error)))) && !isActive(st)) removeContainers([rec]);
    }
    return code;
  }
}
