import { Command, Option } from 'clipanion';
import { CtrError } from '../../util/errors';
import { exitPromptly } from '../../util/exit';
import { boolFlag } from '../../image/push-flags';
import * as fs from 'node:fs';

const FORMATS = ['oci', 'v2s2', 'docker'];

export class PushCommand extends Command {
  static override paths = [['push'], ['image', 'push']];
  static override usage = Command.Usage({
    description: 'Push an image to a registry',
    details:
      "DEST defaults to IMAGE's name; `docker://` in front is accepted. A destination with `@sha256:...` pushes by digest (no tag). Blobs the registry has are skipped, blobs known to be in another repository of the same registry are mounted from there, the rest is uploaded; layers go compressed (a plain layer is gzip-compressed on its first push and the result kept, so pushing again gives the same digests). `--format` picks the manifest type: the image's own by default (oci for images without one), or oci / v2s2. Progress goes to stderr; `--digestfile` writes the manifest digest to a file.",
    examples: [
      ['Push an image under its own name', 'ctr push localhost:5000/tools/busybox:1.36'],
      ['Push under another name, Docker manifest', 'ctr push --format v2s2 busybox registry.example.com/me/busybox:latest'],
      ['Plain-HTTP registry', 'ctr push --tls-verify=false myimage 127.0.0.1:5000/myimage'],
    ],
  });
  format = Option.String('-f,--format', { description: 'Manifest type: oci or v2s2 (default: the image\'s own)' });
  tlsVerify = Option.String('--tls-verify', { tolerateBoolean: true, description: 'Require HTTPS and verify certificates (default true; registries.conf can mark a registry insecure)' });
  creds = Option.String('--creds', { description: 'USERNAME:PASSWORD for the registry' });
  authfile = Option.String('--authfile', { description: 'Credentials file (default $XDG_RUNTIME_DIR/containers/auth.json)' });
  digestfile = Option.String('--digestfile', { description: 'Write the manifest digest to this file' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'No progress output' });
  image = Option.String({ name: 'IMAGE' });
  destination = Option.String({ name: 'DEST', required: false });

  async execute(): Promise<number> {
    let format: 'oci' | 'v2s2' | undefined;
    if (this.format !== undefined) {
      if (!FORMATS.includes(this.format)) throw new CtrError(`invalid --format "${this.format}": use oci or v2s2`);
      format = this.format === 'oci' ? 'oci' : 'v2s2';
    }
    let credentials: { username: string; password: string } | undefined;
    if (this.creds !== undefined) {
      const i = this.creds.indexOf(':');
      const username = i >= 0 ? this.creds.slice(0, i) : '';
      if (!username) throw new CtrError('invalid --creds: use USERNAME:PASSWORD, or log in first with ctr login HOST');
      const password = this.creds.slice(i + 1);
      credentials = { username, password };
    }
    if (this.authfile !== undefined) process.env.REGISTRY_AUTH_FILE = this.authfile;
    const { pushImage } = await import('../../image/push.js');
    const err = this.context.stderr;
    const opts: Parameters<typeof pushImage>[2] = {};
    if (format) opts.format = format;
    const tls = this.tlsVerify === undefined ? undefined : boolFlag(this.tlsVerify, '--tls-verify', true);
    if (tls !== undefined) opts.tlsVerify = tls;
    if (credentials) opts.credentials = credentials;
    const { createProgress, progressMode } = await import('../../util/progress.js');
    const progress = createProgress(process.stderr, progressMode(process.stderr, this.quiet));
    if (!this.quiet) opts.progress = progress;
    let res;
    try {
      res = await pushImage(this.image, this.destination, opts);
    } finally {
      progress.close();
    }
    if (this.digestfile !== undefined) {
      try {
        fs.writeFileSync(this.digestfile, res.digest);
      } catch (e) {
        throw new CtrError(`pushed, but cannot write --digestfile ${this.digestfile}: ${(e as Error).message}`);
      }
    }
    if (!this.quiet) err.write(`${res.reference}: digest: ${res.digest} size: ${res.size}\n`);
    exitPromptly();
    return 0;
  }
}
