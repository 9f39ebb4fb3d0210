// Small helpers shared by the test/e2e/containers-*.test.ts files (container commands).
import { expect } from 'vitest';
import { waitFor, type CtrEnv, type RunResult } from './lib';
import { lines, ok } from './checks';

export { lines, ok, refused } from './checks';

/** Full IDs of all containers (`ps -aq --no-trunc`), sorted. */
export async function allIds(ctr: CtrEnv): Promise<string[]> {
  const r = ok(await ctr.run(['ps', '-aq', '--no-trunc']), 'ps -aq --no-trunc');
  return lines(r.stdout).sort();
}

/** `inspect` of one container, parsed. */
export async function inspect(ctr: CtrEnv, ref: string): Promise<any> {
  const r = ok(await ctr.run(['inspect', ref]), `inspect ${ref}`);
  const arr = JSON.parse(r.stdout);
  expect(arr).toHaveLength(1);
  return arr[0];
}

/** `inspect --format TEMPLATE`, trimmed. */
export async function fmt(ctr: CtrEnv, ref: string, template: string): Promise<string> {
  const r = ok(await ctr.run(['inspect', '--format', template, ref]), `inspect --format ${template} ${ref}`);
  return r.stdout.trim();
}

export async function status(ctr: CtrEnv, ref: string): Promise<string> {
  return fmt(ctr, ref, '{{.State.Status}}');
}

/** Waits until the container reaches a status (running, exited, ...). */
export async function waitStatus(ctr: CtrEnv, ref: string, want: string, timeout = 10_000): Promise<void> {
  await waitFor(async () => (await status(ctr, ref)) === want, { timeout, what: `${ref} to be ${want}` });
}

/** `run -d`, returns the full ID. */
export async function runDetached(ctr: CtrEnv, args: string[]): Promise<string> {
  const r = ok(await ctr.run(['run', '-d', ...args]), `run -d ${args.join(' ')}`);
  const id = r.stdout.trim();
  expect(id).toMatch(/^[0-9a-f]{64}$/);
  return id;
}

/** The container's log (stdout and stderr). */
export async function logs(ctr: CtrEnv, ref: string, args: string[] = []): Promise<RunResult> {
  return ok(await ctr.run(['logs', ...args, ref]), `logs ${args.join(' ')} ${ref}`);
}

/** Waits until the container's log (stdout) matches. */
export async function waitLog(ctr: CtrEnv, ref: string, pattern: RegExp, timeout = 10_000): Promise<string> {
  let last = '';
  await waitFor(
    async () => {
      last = (await ctr.run(['logs', ref])).stdout;
      return pattern.test(last);
    },
    { timeout, what: `log of ${ref} to match ${pattern} (last: ${JSON.stringify(last)})` },
  );
  return last;
}

/** True when a host PID exists (and is not a zombie). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8') as string;
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The process state letter of a host PID (R, S, T, Z, ...), or '' when gone. */
export function pidState(pid: number): string {
  try {
    const stat = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8') as string;
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return '';
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
