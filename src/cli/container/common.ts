import { CtrError, EXIT_ENGINE } from '../../util/errors';
import { findContainer } from '../../container/store';
import type { ContainerRecord } from '../../container/types';

/**
 * Runs fn for each container reference; errors are printed one line each and the command
 * fails (125) at the end, as Docker does for `rm a b c`. With `parallel` every fn runs at once
 * (Docker's `stop a b c` waits for all the containers together, not one after the other).
 * `damaged`: containers whose record is damaged are passed too (commands that can stop or
 * remove them); otherwise they are refused with a line saying how to remove them.
 */
export async function eachContainer(
  refs: string[],
  stderr: NodeJS.WritableStream,
  fn: (rec: ContainerRecord, ref: string) => Promise<void> | void,
  opts: { parallel?: boolean; damaged?: boolean } = {},
): Promise<number> {
  let failed = 0;
  let lastCode = EXIT_ENGINE;
  const one = async (ref: string) => {
    try {
      await fn(findContainer(ref, { damaged: opts.damaged }), ref);
    } catch (e) {
      failed++;
      lastCode = e instanceof CtrError ? e.exitCode : EXIT_ENGINE;
      stderr.write(`Error: ${(e as Error).message}\n`);
    }
  };
  if (opts.parallel) await Promise.all(refs.map(one));
  else for (const ref of refs) await one(ref);
  return failed ? lastCode : 0;
}

export function requireArgs(list: string[], what: string): void {
  if (!list.length) throw new CtrError(`${what} requires at least one container name or ID`);
}
