/** An error the user sees as one line on stderr, with the exit status ctr should return. */
export class CtrError extends Error {
  constructor(
    message: string,
    public readonly exitCode = 125,
  ) {
    super(message);
    this.name = 'CtrError';
  }
}

/** Exit statuses shared with Docker and Podman. */
export const EXIT_ENGINE = 125;
export const EXIT_CANNOT_INVOKE = 126;
export const EXIT_NOT_FOUND = 127;

export function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

/** What the kernel says when a write finds no room (or a broken device), in Docker's words. */
const WRITE_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EIO: 'input/output error',
  EROFS: 'read-only file system',
};

/**
 * A failed write as one line naming the file (`no space left on device while writing PATH`),
 * for the errors a user must act on (free space, quota, device); other errors come back as they are.
 */
export function writeFailure(e: unknown, file: string): unknown {
  const why = WRITE_ERRORS[errnoCode(e) ?? ''];
  return why ? new CtrError(`${why} while writing ${file}`) : e;
}

/** True for the message of a write that found no room (writeFailure's, or the helper's same words). */
export function isNoSpace(e: unknown): boolean {
  return /(no space left on device|disk quota exceeded) while writing /.test(e instanceof Error ? e.message : String(e));
}
