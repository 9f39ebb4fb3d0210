import type { CommandClass } from 'clipanion';
import { VersionCommand } from './system/version';

/** Every command ctr knows; one clipanion class per file under src/cli/<noun>/<verb>.ts. */
export const commands: CommandClass[] = [VersionCommand];
