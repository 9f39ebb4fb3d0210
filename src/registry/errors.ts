import { CtrError } from '../util/errors';

/** What went wrong talking to a registry (the OCI distribution spec's codes plus transport failures). */
export type RegistryErrorCode =
  | 'MANIFEST_UNKNOWN'
  | 'BLOB_UNKNOWN'
  | 'NAME_UNKNOWN'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'TOOMANYREQUESTS'
  | 'UNSUPPORTED'
  | 'CONNECTION'
  | 'TLS'
  | 'PROTOCOL'
  | 'TOO_LARGE';

/**
 * A registry failure. `message` is the one line the user sees, e.g.
 * "manifest unknown: localhost:5000/foo:bar" or "unauthorized: run ctr login localhost:5000".
 */
export class RegistryError extends CtrError {
  constructor(
    public readonly code: RegistryErrorCode,
    message: string,
    public readonly status?: number,
  ) {
    super(message, 125);
    this.name = 'RegistryError';
  }
}

const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'HOSTNAME_MISMATCH',
]);

function causeChain(e: unknown): { code?: string; message: string }[] {
  const out: { code?: string; message: string }[] = [];
  let cur: unknown = e;
  for (let i = 0; cur && i < 6; i++) {
    const c = cur as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown[] };
    out.push({ code: c.code !== undefined ? String(c.code) : undefined, message: String(c.message ?? cur) });
    if (Array.isArray(c.errors) && c.errors.length) cur = c.errors[0];
    else cur = c.cause;
  }
  return out;
}

/** True when a transport error is a TLS handshake/verification failure. */
export function isTlsError(e: unknown): boolean {
  return causeChain(e).some(
    (c) => (c.code !== undefined && (TLS_CODES.has(c.code) || c.code.startsWith('ERR_SSL_') || c.code.startsWith('ERR_TLS_'))) || /certificate|SSL routines|TLS/i.test(c.message),
  );
}

/** The errno-like code of a transport error (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET ...). */
export function transportCode(e: unknown): string | undefined {
  for (const c of causeChain(e)) if (c.code && c.code !== 'UND_ERR') return c.code;
  return undefined;
}

/** True for failures worth retrying: resets, timeouts, closed sockets. */
export function isRetryableTransport(e: unknown): boolean {
  if (e instanceof RegistryError) return false;
  const code = transportCode(e);
  return (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ETIMEDOUT' ||
    code === 'UND_ERR_SOCKET' ||
    code === 'UND_ERR_CLOSED' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'ECONNABORTED' ||
    code === 'EAI_AGAIN'
  );
}

function tlsDetail(e: unknown): string {
  const msg = causeChain(e).find((c) => c.message && c.message !== 'fetch failed')?.message ?? 'handshake failed';
  if (/wrong version number|packet length too long|http request/i.test(msg)) return 'the server does not speak TLS (plain HTTP?)';
  // OpenSSL's "C0...:error:0A000086:SSL routines:fn:certificate verify failed:file:line:" -> "certificate verify failed"
  const m = /SSL routines:[^:]*:([^:]+)/.exec(msg);
  return (m ? m[1]! : msg).split('\n')[0]!.trim();
}

/** Maps a transport failure (no HTTP answer) to one line. */
export function transportError(e: unknown, host: string): RegistryError {
  if (e instanceof RegistryError) return e;
  if ((e as { name?: string }).name === 'AbortError') return new RegistryError('CONNECTION', `request to ${host} aborted`);
  const bare = host.replace(/:\d+$/, '');
  if (isTlsError(e)) {
    return new RegistryError('TLS', `TLS failure with ${host}: ${tlsDetail(e)}; use --tls-verify=false or put the CA in /etc/containers/certs.d/${host}/`);
  }
  const code = transportCode(e);
  switch (code) {
    case 'ECONNREFUSED':
      return new RegistryError('CONNECTION', `connection refused: ${host} (is the registry running?)`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new RegistryError('CONNECTION', `cannot resolve ${bare}: check the registry name and your network`);
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new RegistryError('CONNECTION', `connection to ${host} timed out`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new RegistryError('CONNECTION', `${host} is unreachable: check your network`);
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return new RegistryError('CONNECTION', `connection to ${host} was reset`);
    default: {
      const msg = causeChain(e)
        .map((c) => c.message)
        .find((m) => m && m !== 'fetch failed');
      return new RegistryError('CONNECTION', `cannot reach ${host}: ${(msg ?? String(e)).split('\n')[0]}`);
    }
  }
}
