// Field rules of the seed that a browser or another service needs too. Pure functions, no dependency.

/** Workspace and Pipeline `code`: exactly 4 lowercase letters a-z. */
export const CODE_PATTERN = /^[a-z]{4}$/;

export function isCode(value: string): boolean {
  return CODE_PATTERN.test(value);
}

/**
 * The code a workspace or pipeline gets when it is created without one: the first four letters a-z of its name
 * (accents folded, other characters dropped), or `undefined` when the name has fewer than four.
 */
export function codeFromName(name: string): string | undefined {
  const letters = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z]/g, '');
  return letters.length >= 4 ? letters.slice(0, 4) : undefined;
}

/** A stream topic: the characters Kafka allows in a topic name, 1 to 249 of them. */
export const TOPIC_PATTERN = /^[A-Za-z0-9._-]{1,249}$/;

export function isTopic(value: string): boolean {
  return TOPIC_PATTERN.test(value) && value !== '.' && value !== '..';
}

/** A web origin as browsers send it in the `Origin` header: scheme, host and optional port, nothing else. */
export function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
  } catch {
    return false;
  }
}

/** An http(s) URL with a host. */
export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** One address, the practical subset of RFC 5322 that mail systems accept: local@domain.tld. */
export const EMAIL_PATTERN = /^[^\s@"<>()[\],;:]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;

export function isEmail(value: string): boolean {
  return value.length <= 254 && EMAIL_PATTERN.test(value);
}

/** A phone number in E.164 form: `+` and 2 to 15 digits, the first not 0. */
export const E164_PATTERN = /^\+[1-9]\d{1,14}$/;

/** Drops the spaces, dots, dashes and parentheses people type into phone numbers. */
export function normalizePhone(value: string): string {
  return value.replace(/[\s().-]/g, '');
}

/** An S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending alphanumeric. */
export const S3_BUCKET_PATTERN = /^(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** An AWS-style region such as `eu-west-1` or `us-gov-west-1`. */
export const S3_REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/** A Slack channel: a channel id (C…, G… or D…) or a `#channel-name`. */
export const SLACK_CHANNEL_PATTERN = /^(?:[CGD][A-Z0-9]{8,}|#[a-z0-9][a-z0-9._-]{0,79})$/;

/** A session id: a UUID, as `crypto.randomUUID()` makes them. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Every other id: 1 to 128 letters, digits, `_`, `-`, `.` or `:`, so ids stay safe in URLs, topics and logs. */
export const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/** An HTTP header name: an RFC 9110 token. */
export const HEADER_NAME_PATTERN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Why a sink's HTTP header is refused (never quoting its value, which may be a credential), or undefined. */
export function headerProblem(name: string, value: unknown): string | undefined {
  if (!HEADER_NAME_PATTERN.test(name)) return `header name ${JSON.stringify(name.slice(0, 100))} is not an RFC 9110 token`;
  // Tokens may hold both, but a stored map key cannot: "." nests the path, "$" starts an operator.
  if (name.includes('.') || name.startsWith('$')) return `header name ${JSON.stringify(name.slice(0, 100))} may not hold "." nor start with "$"`;
  if (typeof value !== 'string') return `header ${name} must have a string value`;
  if (/[\r\n\0]/.test(value)) return `header ${name} may not hold CR, LF or NUL`;
  return undefined;
}

// Link-local and cloud metadata endpoints: a sink pointed there would hand the platform's own cloud credentials
// to whoever configured the sink.
const METADATA_HOSTS = ['metadata.google.internal', 'metadata', 'fd00:ec2::254'];

function isLinkLocalOrMetadata(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  if (METADATA_HOSTS.includes(host)) return true;
  if (/^169\.254\.\d+\.\d+$/.test(host)) return true;
  // fe80::/10, and IPv4-mapped 169.254.x.x (which URL writes as ::ffff:a9fe:xxxx).
  return /^fe[89ab][0-9a-f]:/.test(host) || /^::ffff:a9fe:/.test(host);
}

/** Why a sink URL is refused, or undefined: http(s) with a host, no credentials in it, no link-local or metadata address. */
export function sinkUrlProblem(value: string): string | undefined {
  if (!isHttpUrl(value)) return 'must be an http(s) URL';
  const url = new URL(value);
  if (url.username || url.password) return 'may not carry credentials: put them in a header (headers are encrypted), e.g. Authorization';
  if (isLinkLocalOrMetadata(url.hostname)) return 'may not point at a link-local or cloud metadata address';
  return undefined;
}
