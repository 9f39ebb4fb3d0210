import { Command, Option } from 'clipanion';
import { CtrError } from '../../util/errors';
import { parseTlsVerify, promptLine, readStdin, registryHost } from '../../registry/cli';

export class LoginCommand extends Command {
  static override paths = [['login']];
  static override usage = Command.Usage({
    description: 'Log in to a container registry',
    details:
      'Checks the credentials against the registry, then stores them in $REGISTRY_AUTH_FILE or $XDG_RUNTIME_DIR/containers/auth.json (mode 0600). Without a registry, the first unqualified-search registry of registries.conf.',
    examples: [
      ['Log in, prompting for the password', 'ctr login -u alice registry.example.com'],
      ['Password from stdin', 'echo "$PW" | ctr login -u alice --password-stdin localhost:5000'],
    ],
  });
  username = Option.String('-u,--username', { description: 'Username' });
  password = Option.String('-p,--password', { description: 'Password (visible to other users: prefer --password-stdin)' });
  passwordStdin = Option.Boolean('--password-stdin', false, { description: 'Read the password from stdin' });
  tlsVerify = Option.String('--tls-verify', { tolerateBoolean: true, description: 'Require HTTPS and verify certificates (--tls-verify=false for plain HTTP/self-signed)' });
  authfile = Option.String('--authfile', { description: 'Credentials file to use instead of the default' });
  getLogin = Option.Boolean('--get-login', false, { description: 'Print the username stored for the registry' });
  registry = Option.String({ required: false, name: 'REGISTRY' });

  async execute(): Promise<number> {
    if (this.authfile) process.env.REGISTRY_AUTH_FILE = this.authfile;
    const tlsVerify = parseTlsVerify(this.tlsVerify);
    const { getCredentials, storeCredentials } = await import('../../registry/credentials.js');
    let host: string;
    if (this.registry) host = registryHost(this.registry);
    else {
      const { loadRegistryConfig } = await import('../../registry/config.js');
      const first = loadRegistryConfig().unqualifiedSearch[0];
      if (!first) throw new CtrError('no registry given and no unqualified-search-registries configured: use ctr login HOST');
      host = registryHost(first);
    }
    if (this.getLogin) {
      const c = getCredentials(host);
      if (!c) throw new CtrError(`not logged into ${host}`);
      this.context.stdout.write(`${c.username}\n`);
      return 0;
    }
    if (this.password !== undefined && this.passwordStdin) throw new CtrError('--password and --password-stdin cannot be used together');
    let username = this.username;
    let password = this.password;
    const tty = !!process.stdin.isTTY;
    if (this.passwordStdin) {
      if (!username) throw new CtrError('--password-stdin needs --username');
      password = await readStdin();
    }
    if (username === undefined) {
      if (!tty) throw new CtrError('no username: use -u USER (stdin is not a terminal)');
      const stored = getCredentials(host)?.username;
      username = (await promptLine(stored ? `Username (${stored}): ` : 'Username: ', false)).trim() || stored || '';
    }
    if (!username) throw new CtrError('the username is empty');
    if (password === undefined) {
      if (!tty) throw new CtrError('no password: use -p PASSWORD or --password-stdin (stdin is not a terminal)');
      password = await promptLine('Password: ', true);
    }
    if (!password) throw new CtrError('the password is empty');
    const { RegistryClient } = await import('../../registry/client.js');
    await RegistryClient.checkLogin(host, { username, password }, { tlsVerify });
    storeCredentials(host, username, password);
    this.context.stdout.write('Login Succeeded!\n');
    return 0;
  }
}
