import { Command, Option } from 'clipanion';
import { pullImage } from '../../image/pull';
import { CtrError } from '../../util/errors';
import { exitPromptly } from '../../util/exit';

function parseBool(name: string, v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'true' || v === '') return true;
  if (v === 'false') return false;
  throw new CtrError(`invalid ${name} "${v}": use true or false`);
}

export class ImagePullCommand extends Command {
  static override paths = [['pull'], ['image', 'pull']];
  static fastParse = true;
  static override usage = Command.Usage({
    description: 'Pull an image from a registry',
    details:
      'Names without a registry are looked up in the unqualified-search registries of registries.conf (docker.io by default). Progress goes to stderr (per-layer bars on a terminal, one line per blob otherwise); the image ID goes to stdout.',
    examples: [
      ['Pull the latest busybox', 'ctr pull busybox'],
      ['By digest', 'ctr pull docker.io/library/busybox@sha256:...'],
      ['Another platform', 'ctr pull --platform linux/arm64 alpine'],
      ['Every tag, from a plain-HTTP registry', 'ctr pull -a --tls-verify=false localhost:5000/app'],
    ],
  });
  allTags = Option.Boolean('-a,--all-tags', false, { description: 'Pull every tagged image of the repository' });
  platform = Option.String('--platform', { description: 'OS/ARCH[/VARIANT] to pull from a manifest list (default: the host)' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'No progress output; print only the image ID' });
  tlsVerify = Option.String('--tls-verify', { tolerateBoolean: true, description: 'Require HTTPS and verify certificates (default: true unless registries.conf says insecure)' });
  creds = Option.String('--creds', { description: 'USERNAME:PASSWORD for the registry' });
  authfile = Option.String('--authfile', { description: 'Path of the authentication file (default: $XDG_RUNTIME_DIR/containers/auth.json)' });
  image = Option.String({ required: true, name: 'IMAGE' });

  async execute(): Promise<number> {
    const tls = this.tlsVerify === undefined ? undefined : parseBool('--tls-verify', this.tlsVerify === (true as unknown) ? 'true' : String(this.tlsVerify));
    const pulled = await pullImage(this.image, {
      allTags: this.allTags,
      platform: this.platform,
      quiet: this.quiet,
      tlsVerify: tls,
      creds: this.creds,
      authfile: this.authfile,
    });
    this.context.stdout.write(pulled.map((p) => p.id.replace(/^sha256:/, '')).join('\n') + '\n');
    exitPromptly();
    return 0;
  }
}
