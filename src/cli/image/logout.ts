import { Command, Option } from 'clipanion';
import { CtrError } from '../../util/errors';
import { registryHost } from '../../registry/cli';

export class LogoutCommand extends Command {
  static override paths = [['logout']];
  static override usage = Command.Usage({
    description: 'Log out of a container registry',
    details: "Removes the registry's credentials from ctr's auth file ($REGISTRY_AUTH_FILE or $XDG_RUNTIME_DIR/containers/auth.json).",
    examples: [
      ['Log out of one registry', 'ctr logout localhost:5000'],
      ['Log out of every registry', 'ctr logout --all'],
    ],
  });
  all = Option.Boolean('-a,--all', false, { description: 'Remove the credentials of every registry' });
  authfile = Option.String('--authfile', { description: 'Credentials file to use instead of the default' });
  registry = Option.String({ required: false, name: 'REGISTRY' });

  async execute(): Promise<number> {
    if (this.authfile) process.env.REGISTRY_AUTH_FILE = this.authfile;
    const creds = await import('../../registry/credentials.js');
    if (this.all) {
      if (this.registry) throw new CtrError('--all and a registry cannot be used together');
      creds.removeAllCredentials();
      this.context.stdout.write('Removed login credentials for all registries\n');
      return 0;
    }
    let host: string;
    if (this.registry) host = registryHost(this.registry);
    else {
      const { loadRegistryConfig } = await import('../../registry/config.js');
      const first = loadRegistryConfig().unqualifiedSearch[0];
      if (!first) throw new CtrError('no registry given: use ctr logout HOST or ctr logout --all');
      host = registryHost(first);
    }
    if (!creds.removeCredentials(host)) {
      const other = creds.credentialsElsewhere(host);
      if (other) throw new CtrError(`not logged into ${host} with ctr; the credentials in ${other} were left in place (remove them with docker logout)`);
      throw new CtrError(`not logged into ${host}`);
    }
    this.context.stdout.write(`Removed login credentials for ${host}\n`);
    return 0;
  }
}
