import type { CommandClass } from 'clipanion';

/**
 * Every command module, loaded on demand: a module is only evaluated when the first word of
 * argv is one it serves, so `ctr run` never initialises the archive code `ctr load` needs
 * (start-up time is the floor of every command). `words` must list the first word of every
 * path of the module's commands; test/unit/commands.test.ts checks it.
 */
export const commandModules: { words: string[]; load: () => Promise<CommandClass[]> }[] = [
  { words: ['version', '--version', '-v'], load: async () => [(await import('./system/version.js')).VersionCommand] },
  { words: ['info', 'system'], load: async () => [(await import('./system/info.js')).InfoCommand] },
  { words: ['system'], load: async () => [(await import('./system/check.js')).SystemCheckCommand] },
  { words: ['unshare'], load: async () => [(await import('./system/unshare.js')).UnshareCommand] },
  { words: ['create', 'container'], load: async () => [(await import('./container/create.js')).CreateCommand] },
  { words: ['run', 'container'], load: async () => [(await import('./container/run.js')).RunCommand] },
  { words: ['ps', 'container'], load: async () => [(await import('./container/ps.js')).PsCommand] },
  { words: ['logs', 'container'], load: async () => [(await import('./container/logs.js')).LogsCommand] },
  { words: ['inspect', 'container'], load: async () => [(await import('./container/inspect.js')).InspectContainerCommand] },
  { words: ['exec', 'container'], load: async () => [(await import('./container/exec.js')).ExecCommand] },
  { words: ['top', 'container'], load: async () => [(await import('./container/top.js')).TopCommand] },
  { words: ['export', 'container'], load: async () => [(await import('./container/export.js')).ExportCommand] },
  { words: ['cp', 'container'], load: async () => [(await import('./container/cp.js')).CpCommand] },
  { words: ['port', 'container'], load: async () => [(await import('./container/port.js')).PortCommand] },
  { words: ['diff', 'container'], load: async () => [(await import('./container/diff.js')).DiffCommand] },
  {
    words: ['start', 'stop', 'kill', 'rm', 'wait', 'restart', 'rename', 'pause', 'unpause', 'attach', 'container'],
    load: async () => (await import('./container/lifecycle.js')).lifecycleCommands,
  },
  { words: ['load', 'image'], load: async () => [(await import('./image/load.js')).ImageLoadCommand] },
  { words: ['save', 'image'], load: async () => [(await import('./image/save.js')).ImageSaveCommand] },
  { words: ['import', 'image'], load: async () => [(await import('./image/import.js')).ImageImportCommand] },
  { words: ['images', 'image'], load: async () => [(await import('./image/ls.js')).ImageListCommand] },
  { words: ['tag', 'image'], load: async () => [(await import('./image/tag.js')).ImageTagCommand] },
  { words: ['rmi', 'image'], load: async () => [(await import('./image/rm.js')).ImageRemoveCommand] },
  { words: ['image'], load: async () => [(await import('./image/inspect.js')).ImageInspectCommand] },
  { words: ['history', 'image'], load: async () => [(await import('./image/history.js')).ImageHistoryCommand] },
  { words: ['image'], load: async () => [(await import('./image/prune.js')).ImagePruneCommand] },
  { words: ['commit', 'container'], load: async () => [(await import('./image/commit.js')).CommitCommand] },
  { words: ['push', 'image'], load: async () => [(await import('./image/push.js')).PushCommand] },
  { words: ['pull', 'image'], load: async () => [(await import('./image/pull.js')).ImagePullCommand] },
  { words: ['login'], load: async () => [(await import('./image/login.js')).LoginCommand] },
  { words: ['logout'], load: async () => [(await import('./image/logout.js')).LogoutCommand] },
  {
    words: ['network'],
    load: async () => [
      (await import('./network/create.js')).NetworkCreateCommand,
      (await import('./network/ls.js')).NetworkListCommand,
      (await import('./network/inspect.js')).NetworkInspectCommand,
      (await import('./network/rm.js')).NetworkRemoveCommand,
      (await import('./network/prune.js')).NetworkPruneCommand,
    ],
  },
  { words: ['search'], load: async () => [(await import('./image/search.js')).SearchCommand] },
];

/** The command classes that may handle argv (all of them when the first word is unknown, for help). */
export async function commandsFor(argv: string[]): Promise<CommandClass[]> {
  const first = argv[0];
  const mods = commandModules.filter((m) => first !== undefined && m.words.includes(first));
  return (await Promise.all((mods.length ? mods : commandModules).map((m) => m.load()))).flat();
}
