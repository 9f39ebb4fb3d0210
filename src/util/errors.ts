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
