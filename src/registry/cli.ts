/**
 * Small helpers shared by the registry commands (login, logout, search, pull, push): the
 * --tls-verify value, registry host arguments, prompts. No undici here.
 */
import { CtrError } from '../util/errors';
import { createInterface } from 'node:readline';

/**
 * `--tls-verify` declared as Option.String('--tls-verify', { tolerateBoolean: true }):
 * undefined (not given) → undefined (the configuration decides); `--tls-verify` or
 * `--tls-verify=true` → true; `--tls-verify=false` → false.
 */
export function parseTlsVerify(v: string | boolean | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === true || v === false) return v;
  const s = v.trim().toLowerCase();
  if (['true', '1', 't', 'yes'].includes(s)) return true;
  if (['false', '0', 'f', 'no'].includes(s)) return false;
  throw new CtrError(`invalid --tls-verify value "${v}": use --tls-verify=true or --tls-verify=false`);
}

/** A registry argument as users type it ("https://host:5000/v1/", "docker.io") → host[:port]. */
export function registryHost(arg: string): string {
  let h = arg.trim().replace(/^[a-z]+:\/\//i, '');
  h = h.split('/')[0]!;
  if (!h || /[\s@]/.test(h) || !/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d+)?$/.test(h))
    throw new CtrError(`invalid registry "${arg}": expected HOST[:PORT]`);
  h = h.toLowerCase();
  if (h === 'index.docker.io' || h === 'registry-1.docker.io') h = 'docker.io';
  return h;
}

/** Reads one line from a terminal; hidden input is not echoed. Ctrl-C exits 130. */
export async function promptLine(question: string, hidden: boolean): Promise<string> {
  const stdin = process.stdin;
  const out = process.stderr.isTTY ? process.stderr : process.stdout;
  if (!hidden) {
    out.write(question);
    const rl = createInterface({ input: stdin, terminal: false });
    return new Promise((resolve) => {
      let done = false;
      rl.once('line', (l) => {
        done = true;
        rl.close();
        resolve(l);
      });
      rl.once('close', () => {
        if (!done) resolve('');
      });
    });
  }
  return new Promise((resolve) => {
    let value = '';
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true); // no echo from here on, then the prompt
    out.write(question);
    stdin.resume();
    const finish = (v: string | undefined) => {
      stdin.setRawMode(wasRaw);
      stdin.pause();
      stdin.removeListener('data', onData);
      out.write('\n');
      if (v === undefined) process.exit(130);
      resolve(v);
    };
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(value);
        if (ch === '\u0003') return finish(undefined);
        if (ch === '\u0004') return finish(value);
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** All of stdin as text (for --password-stdin), without the final newline. */
export async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of process.stdin) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8').replace(/\r?\n$/, '');
}
