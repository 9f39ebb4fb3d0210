/** Inputs and outputs of image commands: files or stdin/stdout, written atomically when a file. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from '../util/random';
import type { Writable } from 'node:stream';
import { CtrError } from '../util/errors';

/** Opens FILE (or stdin for undefined / "-") as a byte stream; `what` names it in errors. */
export function openInput(file: string | undefined, what: string): { stream: AsyncIterable<Buffer>; label: string } {
  if (file === undefined || file === '-') {
    if (process.stdin.isTTY)
      throw new CtrError(what === 'archive' ? 'no archive given: use -i FILE or pipe an archive into stdin' : `no ${what} on stdin: pipe one in or give a file name`);
    return { stream: process.stdin as AsyncIterable<Buffer>, label: 'from stdin' };
  }
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new CtrError(`cannot open ${file}: no such file`);
    if (code === 'EACCES') throw new CtrError(`cannot open ${file}: permission denied`);
    throw new CtrError(`cannot open ${file}: ${(e as Error).message}`);
  }
  if (fs.fstatSync(fd).isDirectory()) {
    fs.closeSync(fd);
    throw new CtrError(`${file} is a directory; give a tar archive`);
  }
  return { stream: fs.createReadStream('', { fd, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>, label: file };
}

/**
 * An output for an archive: FILE written under a temp name and renamed when complete, or
 * stdout (refused when it is a terminal).
 */
export function openOutput(file: string | undefined): { out: Writable; commit: () => Promise<void>; abort: () => void; isStdout: boolean } {
  if (file === undefined || file === '-') {
    if (process.stdout.isTTY) throw new CtrError('refusing to write an archive to a terminal: use -o FILE or redirect stdout');
    return { out: process.stdout, commit: async () => {}, abort: () => {}, isStdout: true };
  }
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.ctr-${randomBytes(4).toString('hex')}`);
  let out: fs.WriteStream;
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    out = fs.createWriteStream(tmp, { mode: 0o644, highWaterMark: 1 << 20 });
  } catch (e) {
    throw new CtrError(`cannot write ${file}: ${(e as Error).message}`);
  }
  return {
    out,
    commit: async () => {
      if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
      fs.renameSync(tmp, file);
    },
    abort: () => {
      out.destroy();
      fs.rmSync(tmp, { force: true });
    },
    isStdout: false,
  };
}
