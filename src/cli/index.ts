import type { CommandClass } from 'clipanion';
import { VersionCommand } from './system/version';
import { InfoCommand } from './system/info';
import { UnshareCommand } from './system/unshare';
import { CreateCommand } from './container/create';
import { RunCommand } from './container/run';
import { PsCommand } from './container/ps';
import { LogsCommand } from './container/logs';
import { InspectContainerCommand } from './container/inspect';
import { ExecCommand } from './container/exec';
import { TopCommand } from './container/top';
import { lifecycleCommands } from './container/lifecycle';
import { ExportCommand } from './container/export';
import { DiffCommand } from './container/diff';
import { ImageLoadCommand } from './image/load';
import { ImageSaveCommand } from './image/save';
import { ImageImportCommand } from './image/import';
import { ImageListCommand } from './image/ls';
import { ImageTagCommand } from './image/tag';
import { ImageRemoveCommand } from './image/rm';
import { ImageInspectCommand } from './image/inspect';
import { ImageHistoryCommand } from './image/history';
import { ImagePruneCommand } from './image/prune';

/** Every command ctr knows; one clipanion class per file under src/cli/<noun>/<verb>.ts. */
export const commands: CommandClass[] = [
  VersionCommand,
  InfoCommand,
  UnshareCommand,
  CreateCommand,
  RunCommand,
  PsCommand,
  LogsCommand,
  InspectContainerCommand,
  ExecCommand,
  TopCommand,
  ExportCommand,
  DiffCommand,
  ...lifecycleCommands,
  ImageLoadCommand,
  ImageSaveCommand,
  ImageImportCommand,
  ImageListCommand,
  ImageTagCommand,
  ImageRemoveCommand,
  ImageInspectCommand,
  ImageHistoryCommand,
  ImagePruneCommand,
];
