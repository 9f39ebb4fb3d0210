import { Cli, Builtins, type Command, type CommandClass } from 'clipanion';
import { fastProcess } from './cli/fastparse';
import { CtrError, writeFailure } from './util/errors';
import { exitWhenDone } from './util/exit';
import { setGlobalOptions, type GlobalOptions, type LogLevel, type StorageDriverName } from './state/context';
import { commandsFor } from './cli/index';
import { VERSION } from './version';
import { CREATE_VALUE_OPTIONS } from './cli/container/create-options';

const GLOBAL_WITH_VALUE: Record<string, keyof GlobalOptions> = {
  '--root': 'root',
  '--runroot': 'runroot',
  '--storage-driver': 'storageDriver',
  '--log-level': 'logLevel',
};
const DRIVERS = ['auto', 'overlay', 'fuse-overlayfs', 'vfs'];
const LEVELS = ['debug', 'info', 'warn', 'error'];

/** Splits Podman-style global options (before the command) from the rest of argv. */
export function parseGlobalOptions(argv: string[]): { globals: GlobalOptions; rest: string[] } {
  const globals: GlobalOptions = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) break;
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(0, eq) : a;
    const key = GLOBAL_WITH_VALUE[name];
    if (!key) break;
    let value: string | undefined;
    if (eq >= 0) value = a.slice(eq + 1);
    else value = argv[++i];
    if (value === undefined || value === '') throw new CtrError(`option ${name} needs a value`);
    if (key === 'storageDriver' && !DRIVERS.includes(value))
      throw new CtrError(`invalid --storage-driver "${value}": use one of ${DRIVERS.join(', ')}`);
    if (key === 'logLevel' && !LEVELS.includes(value))
      throw new CtrError(`invalid --log-level "${value}": use one of ${LEVELS.join(', ')}`);
    if (key === 'storageDriver') globals.storageDriver = value as StorageDriverName;
    else if (key === 'logLevel') globals.logLevel = value as LogLevel;
    else globals[key] = value;
  }
  return { globals, rest: argv.slice(i) };
}

/**
 * For `run`/`create`, Docker's `-h` is --hostname, not help: rewrite it in the options before
 * the image name (clipanion reserves -h for help). A negative number after an option that takes
 * a value (`--pids-limit -1`) is that value, as for Docker: it is joined to it (`--pids-limit=-1`),
 * which clipanion would otherwise take for an option.
 */
export function rewriteHostnameFlag(args: string[]): string[] {
  let start = 0;
  if (args[0] === 'run' || args[0] === 'create') start = 1;
  else if (args[0] === 'container' && (args[1] === 'run' || args[1] === 'create')) start = 2;
  else return args;
  const out = args.slice();
  for (let i = start; i < out.length; i++) {
    const a = out[i]!;
    if (a === '--' || !a.startsWith('-') || a === '-') break;
    if (a === '-h') {
      out[i] = '--hostname';
      i++;
      continue;
    }
    if (a.startsWith('--')) {
      if (!a.includes('=') && CREATE_VALUE_OPTIONS.has(a)) {
        if (/^-[0-9]+$/.test(out[i + 1] ?? '')) out.splice(i, 2, `${a}=${out[i + 1]}`);
        else i++;
      }
      continue;
    }
    // short options, possibly bundled (-it, -e X, -eX)
    const last = `-${a[a.length - 1]}`;
    if (a.length === 2 && CREATE_VALUE_OPTIONS.has(a)) i++;
    else if (a.length > 2 && CREATE_VALUE_OPTIONS.has(`-${a[1]}`)) continue; // -eFOO=bar
    else if (CREATE_VALUE_OPTIONS.has(last)) i++;
  }
  return out;
}

/**
 * The commands whose path starts argv: clipanion compiles a state machine over every
 * registered command on each run, which costs more than the rest of a quick command, so only
 * the candidates are registered (all of them when nothing matches, for help and suggestions).
 */
export async function selectCommands(rest: string[]): Promise<CommandClass[]> {
  const commands = await commandsFor(rest);
  const matching = commands.filter((c) => (c.paths ?? []).some((p) => p.length > 0 && p.every((w, i) => rest[i] === w)));
  return matching.length ? matching : commands;
}

export function reportError(e: unknown, logLevel?: string): number {
  if (e instanceof CtrError) {
    process.stderr.write(`Error: ${e.message}\n`);
    if (logLevel === 'debug' && e.stack) process.stderr.write(e.stack + '\n');
    return e.exitCode;
  }
  const err = e as Error;
  const code = (err as { code?: string }).code;
  let msg = err && err.message ? err.message : String(e);
  if (code === 'EACCES' || code === 'EPERM') msg = `permission denied: ${msg}`;
  // a full disk met by a mkdir, open, copy...: say which file, as the writes of the store do
  const file = (err as { path?: string }).path;
  if ((code === 'ENOSPC' || code === 'EDQUOT') && file) msg = (writeFailure(err, file) as Error).message;
  process.stderr.write(`Error: ${msg.split('\n')[0]}\n`);
  if (logLevel === 'debug' && err?.stack) process.stderr.write(err.stack + '\n');
  return 125;
}

/**
 * A closed pipe (`ctr export c | head`) ends the command quietly, as for any Unix tool. The
 * handler is attached when process.stdout/stderr is first used, so that a command that prints
 * nothing does not pay for making the stream.
 */
function quietOnClosedPipe(): void {
  const onError = (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(141);
  };
  for (const name of ['stdout', 'stderr'] as const) {
    const d = Object.getOwnPropertyDescriptor(process, name);
    if (!d?.get || !d.configurable) {
      process[name].on('error', onError);
      continue;
    }
    const get = d.get;
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: d.enumerable,
      get() {
        const stream = get.call(process) as NodeJS.WriteStream;
        Object.defineProperty(process, name, { configurable: true, enumerable: d.enumerable, writable: false, value: stream });
        stream.on('error', onError);
        return stream;
      },
    });
  }
}

export async function main(argv: string[]): Promise<number> {
  quietOnClosedPipe();
  let parsed: { globals: GlobalOptions; rest: string[] };
  try {
    parsed = parseGlobalOptions(argv);
  } catch (e) {
    return reportError(e);
  }
  setGlobalOptions(parsed.globals);
  parsed.rest = rewriteHostnameFlag(parsed.rest);
  const selected = await selectCommands(parsed.rest);
  // clipanion's Cli is made only when needed: registering costs about a millisecond
  let cliMade: Cli | undefined;
  const cli = (): Cli => {
    if (!cliMade) {
      cliMade = new Cli({ binaryLabel: 'ctr', binaryName: 'ctr', binaryVersion: VERSION, enableCapture: false, enableColors: false });
      cliMade.register(Builtins.HelpCommand);
      for (const c of selected) cliMade.register(c);
    }
    return cliMade;
  };
  // stdio streams are made on first use: most commands never read stdin, and making one costs
  // a module load or two
  const ctx = Object.defineProperties({ env: process.env, colorDepth: 1 } as unknown as typeof Cli.defaultContext, {
    stdin: { enumerable: true, get: () => process.stdin },
    stdout: { enumerable: true, get: () => process.stdout },
    stderr: { enumerable: true, get: () => process.stderr },
  });
  let command: Command | undefined;
  try {
    // commands that opt in (`static fastParse = true`) skip clipanion's state machine on plain command lines
    for (const c of selected) if ((c as { fastParse?: boolean }).fastParse && !command) command = fastProcess(c, parsed.rest, ctx);
    command ??= cli().process(parsed.rest.length ? parsed.rest : ['--help']);
  } catch (e) {
    const msg = (e as Error).message.split('\n').find((l) => l.trim() !== '') ?? String(e);
    process.stderr.write(`Error: ${msg.replace(/^Usage Error: /, '')} (see 'ctr --help')\n`);
    return 125;
  }
  if (command.help) {
    process.stdout.write(cli().usage(command, { detailed: true }));
    return 0;
  }
  command.context = ctx;
  command.cli = {
    binaryLabel: 'ctr',
    binaryName: 'ctr',
    binaryVersion: VERSION,
    enableCapture: false,
    enableColors: false,
    definitions: () => cli().definitions(),
    error: (error, opts) => cli().error(error, opts),
    format: (colored) => cli().format(colored),
    process: (input, sub) => cli().process(input, { ...ctx, ...sub }),
    run: (input, sub) => cli().run(input, { ...ctx, ...sub }),
    usage: (c, opts) => cli().usage(c, opts),
  };
  try {
    const rc = await command.validateAndExecute();
    return rc ?? 0;
  } catch (e) {
    return reportError(e, parsed.globals.logLevel);
  }
}

if (require.main === module || (process as { pkg?: unknown }).pkg !== undefined || process.env.CTR_MAIN === '1') {
  main(process.argv.slice(2)).then(
    (rc) => {
      process.exitCode = rc;
      // a command that is done with everything says so: exit now rather than after Node's
      // teardown of idle sockets and the heap (2-3 ms)
      if (exitWhenDone()) process.exit(rc);
    },
    (e) => {
      process.exitCode = reportError(e);
    },
  );
}
