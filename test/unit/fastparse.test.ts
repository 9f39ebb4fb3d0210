import { describe, expect, it } from 'vitest';
import { Builtins, Cli, type Command, type CommandClass } from 'clipanion';
import { fastProcess } from '../../src/cli/fastparse';
import { RunCommand } from '../../src/cli/container/run';
import { CreateCommand } from '../../src/cli/container/create';
import { ExecCommand } from '../../src/cli/container/exec';
import { ImagePullCommand } from '../../src/cli/image/pull';
import { KillCommand, RestartCommand, RmCommand, StartCommand, StopCommand, WaitCommand } from '../../src/cli/container/lifecycle';

const ctx = { env: {}, colorDepth: 1, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };

/** The option and positional values of a parsed command (everything but clipanion's internals). */
function values(c: Command): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) if (k !== 'context' && k !== 'cli') out[k] = v;
  return out;
}

function slow(cls: CommandClass, argv: string[]): Record<string, unknown> | string {
  const cli = new Cli({ binaryName: 'ctr' });
  cli.register(Builtins.HelpCommand);
  cli.register(cls);
  try {
    const c = cli.process(argv, ctx);
    if (c.help) return 'help';
    return values(c);
  } catch (e) {
    return `error: ${(e as Error).message.split('\n')[0]}`;
  }
}

describe('the quick parser of run gives what clipanion gives', () => {
  const handled: string[][] = [
    ['run', 'busybox'],
    ['run', '--rm', '--network', 'none', 'busybox', 'true'],
    ['container', 'run', '-d', 'busybox', 'sleep', '100'],
    ['run', '-it', '--rm', 'busybox', 'sh'],
    ['run', '-d', '-t', '-i', '--name', 'web', '-e', 'A=1', '--env', 'B=2', '--env=C=3', 'busybox', 'env'],
    ['run', '-v', '/a:/b:ro', '--volume', '/c:/d', '-l', 'x=y', '--label=z', 'busybox'],
    ['run', '--net=host', '--cap-add', 'NET_ADMIN', '--cap-drop=ALL', '--privileged', '--read-only', '--init', 'busybox', 'true'],
    ['run', '-u', '1000:1000', '-w', '/tmp', '--hostname', 'h', '--entrypoint', '/bin/echo', 'busybox', 'a', 'b'],
    ['run', '--log-opt', 'max-size=1k', '--log-driver', 'json-file', '--stop-signal', 'SIGUSR1', 'busybox'],
    ['run', '--detach-keys', 'ctrl-a', '--env-file', '/x', 'busybox', 'ls', '-la', '--rm', '-e', 'X'],
    ['run', '--name', 'a', '--name', 'b', 'busybox'],
    ['run', 'busybox', '--', 'x'],
    ['run', 'busybox', '-h'],
  ];
  for (const argv of handled) {
    it(argv.join(' '), () => {
      const fast = fastProcess(RunCommand, argv, ctx);
      expect(fast, 'handled by the quick parser').toBeDefined();
      expect(values(fast!)).toEqual(slow(RunCommand, argv));
    });
  }

  // left to clipanion (its messages and its help), which must not be the quick parser's job
  const declined: string[][] = [
    ['run'],
    ['run', '--rm'],
    ['run', '--help'],
    ['run', '-h', 'busybox'],
    ['run', '--no-such-flag', 'busybox'],
    ['run', '--rm=yes', 'busybox'],
    ['run', '--no-sig-proxy', 'busybox'],
    ['run', '--', 'busybox'],
    ['run', '-e', '-x', 'busybox'],
    ['run', '-it0', 'busybox'],
    ['run', '-ie', 'A=1', 'busybox'],
    ['run', '--name'],
    ['run', '-', 'busybox'],
    ['ps'],
  ];
  for (const argv of declined) {
    it(`declines: ${argv.join(' ')}`, () => {
      expect(fastProcess(RunCommand, argv, ctx)).toBeUndefined();
    });
  }
});

describe('the quick parser of the life-cycle commands gives what clipanion gives', () => {
  const handled: [CommandClass, string[]][] = [
    [StopCommand, ['stop', 'abc']],
    [StopCommand, ['stop', '-t', '0', 'abc', 'def']],
    [StopCommand, ['container', 'stop', '--time=3', 'abc']],
    [StopCommand, ['stop', '-a']],
    [RmCommand, ['rm', 'abc']],
    [RmCommand, ['rm', '-f', '-v', 'a', 'b', 'c']],
    [RmCommand, ['rm', '-fv', 'a']],
    [RmCommand, ['container', 'remove', '--force', 'a']],
    [RmCommand, ['rm', '-a']],
    [StartCommand, ['start', 'a']],
    [StartCommand, ['start', '-ai', '--detach-keys', 'ctrl-x', 'a']],
    [KillCommand, ['kill', 'a']],
    [KillCommand, ['kill', '-s', 'HUP', 'a', 'b']],
    [WaitCommand, ['wait', 'a', 'b']],
    [RestartCommand, ['restart', '-t', '1', 'a']],
    [CreateCommand, ['create', 'busybox']],
    [CreateCommand, ['create', '--name', 'c1', '-e', 'A=1', '-v', '/a:/b', 'busybox', 'sh', '-c', 'echo hi']],
    [CreateCommand, ['container', 'create', '-it', '--pull', 'never', 'busybox']],
    [ExecCommand, ['exec', 'c1', 'true']],
    [ExecCommand, ['exec', '-it', 'c1', 'sh']],
    [ExecCommand, ['exec', '-d', '-e', 'A=1', '-u', '1000', '-w', '/tmp', 'c1', 'sleep', '5']],
    [ExecCommand, ['container', 'exec', '--privileged', 'c1', 'ls', '-la']],
    [ImagePullCommand, ['pull', 'busybox']],
    [ImagePullCommand, ['pull', '-q', '--tls-verify=false', 'localhost:5000/app:1']],
    [ImagePullCommand, ['image', 'pull', '--tls-verify', '--platform', 'linux/arm64', 'alpine']],
    [ImagePullCommand, ['pull', '-aq', '--creds=u:p', '--authfile', '/a.json', 'x/y']],
  ];
  for (const [cls, argv] of handled) {
    it(argv.join(' '), () => {
      const fast = fastProcess(cls, argv, ctx);
      expect(fast, 'handled by the quick parser').toBeDefined();
      expect(values(fast!)).toEqual(slow(cls, argv));
    });
  }

  const declined: [CommandClass, string[]][] = [
    [StartCommand, ['start']],
    [KillCommand, ['kill']],
    [WaitCommand, ['wait']],
    [RmCommand, ['rm', 'a', '-f']],
    [RmCommand, ['rm', '--', 'a']],
    [StopCommand, ['stop', '-t']],
    [StopCommand, ['stop', '--help']],
    [StopCommand, ['stop', '-x', 'a']],
    [ExecCommand, ['exec', 'c1']],
    [ExecCommand, ['exec', '--no-such', 'c1', 'true']],
    [CreateCommand, ['create']],
    [ImagePullCommand, ['pull']],
    [ImagePullCommand, ['pull', '-q=1', 'x']],
    [ImagePullCommand, ['pull', 'a', 'b']],
  ];
  for (const [cls, argv] of declined) {
    it(`declines: ${argv.join(' ')}`, () => {
      expect(fastProcess(cls, argv, ctx)).toBeUndefined();
    });
  }
});
