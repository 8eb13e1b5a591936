// The bounds of every input the package accepts: one table, read by the schemas (a check on the raw input, before
// any casting or normalisation) and by a browser or another service (to refuse early, with the same numbers).
// Dependency-free. The README's "Reliability" section says why each number.

/** A bound on one input: a list's `items`, a map's `keys`, a string's `chars`, or a JSON-like value's `bytes`. */
export type Limit = { readonly items: number } | { readonly keys: number } | { readonly chars: number } | { readonly bytes: number };

const NAME = { chars: 200 } as const;
// Ids, codes, topics and other short strings: far above any valid value, so the rules that check them (patterns,
// enums) refuse a wrong one with their own message, and none of them ever reads a megabyte.
const ID = { chars: 128 } as const;
const SHORT = { chars: 100 } as const;
const TOPIC = { chars: 256 } as const;
const DESCRIPTION = { chars: 2000 } as const;
const EMAIL = { chars: 254 } as const;
const HASH = { chars: 256 } as const;

/**
 * Per model, per path (`a.b` for a field of a sub-document, also of each element of a list; `a.$*` for each value
 * of a map). Every free-form string of every model is here (a test walks the schemas), so a new field cannot be
 * left unbounded.
 */
export const INPUT_LIMITS = {
  Workspace: { _id: ID, name: NAME, code: SHORT, allowedOrigins: { items: 100 } },
  Pipeline: {
    _id: ID,
    workspaceId: ID,
    name: NAME,
    code: SHORT,
    streams: { items: 200 },
    sourceClients: { items: 200 },
    sinkConnections: { items: 200 },
    transforms: { items: 200 },
    // One position per node at most: streams + clients + connections + transforms.
    nodePositions: { keys: 800 },
    'streams.topic': TOPIC,
    'streams.description': DESCRIPTION,
    'sourceClients.clientId': ID,
    'sourceClients.role': SHORT,
    'sourceClients.connectorType': SHORT,
    'sourceClients.streamName': TOPIC,
    'sourceClients.description': DESCRIPTION,
    'sinkConnections.connectionId': ID,
    'sinkConnections.connectorType': SHORT,
    'sinkConnections.streamName': TOPIC,
    'sinkConnections.description': DESCRIPTION,
    'transforms.type': SHORT,
    'transforms.sourceStream': TOPIC,
    'transforms.targetStream': TOPIC,
    'transforms.failureQueue': TOPIC,
    'transforms.expression': { chars: 20_000 },
    'transforms.description': DESCRIPTION,
  },
  Client: { _id: ID, name: NAME, secretHash: HASH, secretSalt: HASH, previousSecretHash: HASH, previousSecretSalt: HASH, allowedScopes: { items: 200 }, allowedTopics: { items: 1000 } },
  Connection: {
    _id: ID,
    name: NAME,
    'config.url': { chars: 2048 },
    'config.headers': { keys: 50 },
    // An HTTP header value: servers refuse requests whose headers pass 8 KiB.
    'config.headers.$*': { chars: 8192 },
    'config.bucket': SHORT,
    'config.region': SHORT,
    'config.accessKeyId': ID,
    'config.secretAccessKey': { chars: 1024 },
  },
  User: { _id: ID, workspaceId: ID, username: EMAIL, passwordHash: HASH, passwordSalt: HASH, roles: { items: 50 } },
  Session: { _id: ID, workspaceId: ID, principalId: ID, scopes: { items: 200 }, topics: { items: 1000 }, context: { bytes: 16 * 1024 } },
  Notification: {
    _id: ID,
    type: SHORT,
    correlationId: { chars: 256 },
    tenantId: ID,
    contactId: ID,
    'target.email': EMAIL,
    'target.slackChannel': SHORT,
    payload: { bytes: 256 * 1024 },
    'error.message': { chars: 4000 },
    'error.code': SHORT,
  },
  Contact: { _id: ID, email: EMAIL, phone: { chars: 64 }, source: NAME, tags: { items: 100 }, attributes: { bytes: 16 * 1024 } },
} as const satisfies Record<string, Record<string, Limit>>;

/** A password or client secret, bounded before it is hashed: a megabyte secret would cost seconds of scrypt. */
export const SECRET_LIMIT = { chars: 1024 } as const satisfies Limit;

/** How deep an input document, update or filter may nest, checked before mongoose copies it (a copy recurses). */
export const DEPTH_LIMIT = 32;

/** The most values an `$in`/`$nin`/`$all` list of a filter may hold. */
export const FILTER_LIST_LIMIT = 10_000;

export type LimitedModel = keyof typeof INPUT_LIMITS;

/** What is over a limit, e.g. `{ path: 'streams', limit: 'at most 250 items', message }`. */
export interface LimitProblem {
  path: string;
  limit: string;
  message: string;
}

/**
 * Whether `value` is within `limit`, looking at no more of it than the limit needs: a 10 MB input costs no more
 * than one at the limit. Values of another type pass (their own rules refuse them).
 */
export function limitProblem(path: string, limit: Limit, value: unknown): LimitProblem | undefined {
  let over: boolean;
  let bound: string;
  if ('items' in limit) {
    over = Array.isArray(value) && value.length > limit.items;
    bound = `at most ${limit.items} items`;
  } else if ('keys' in limit) {
    over = value instanceof Map ? value.size > limit.keys : isObject(value) && countKeys(value, limit.keys) > limit.keys;
    bound = `at most ${limit.keys} entries`;
  } else if ('chars' in limit) {
    over = typeof value === 'string' && value.length > limit.chars;
    bound = `at most ${limit.chars} characters`;
  } else {
    over = jsonBytes(value, limit.bytes) > limit.bytes || tooDeep(value, DEPTH_LIMIT);
    bound = `at most ${limit.bytes} bytes as JSON, ${DEPTH_LIMIT} levels deep`;
  }
  return over ? { path, limit: bound, message: `${path} is too large: ${bound}` } : undefined;
}

/** Every limit `input` (a plain object as a request would give it) breaks for `model`, checked on the raw values. */
export function limitProblems(model: LimitedModel, input: unknown): LimitProblem[] {
  const problems: LimitProblem[] = [];
  for (const [path, limit] of Object.entries(INPUT_LIMITS[model]) as Array<[string, Limit]>) {
    // A list already over its limit is not walked for its elements' fields.
    if (problems.some((p) => path.startsWith(`${p.path}.`))) continue;
    for (const [at, value] of valuesAt(input, path.split('.'), '')) {
      const problem = limitProblem(at, limit, value);
      if (problem) problems.push(problem);
    }
  }
  return problems;
}

/** The values at `keys` under `value`, through lists (each element, its index in the path). */
function valuesAt(value: unknown, keys: string[], prefix: string): Array<[string, unknown]> {
  if (keys.length === 0) return [[prefix, value]];
  if (keys[0] === '$*') {
    const entries = value instanceof Map ? [...value] : isObject(value) && !Array.isArray(value) ? Object.entries(value) : [];
    return entries.flatMap(([k, v]) => valuesAt(v, keys.slice(1), `${prefix}.${String(k)}`));
  }
  // An update may name a nested path whole: `{ 'config.headers': {...} }`.
  const joined = keys.join('.');
  if (keys.length > 1 && isObject(value) && !Array.isArray(value) && Object.hasOwn(value, joined)) return [[prefix ? `${prefix}.${joined}` : joined, value[joined]]];
  if (Array.isArray(value)) return value.flatMap((v, i) => valuesAt(v, keys, `${prefix}.${i}`));
  if (!isObject(value) || !Object.hasOwn(value, keys[0]!)) return [];
  const at = prefix ? `${prefix}.${keys[0]}` : keys[0]!;
  return valuesAt(value[keys[0]!], keys.slice(1), at);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function countKeys(value: object, stopAfter: number): number {
  let n = 0;
  for (const key in value) {
    if (Object.hasOwn(value, key) && ++n > stopAfter) break;
  }
  return n;
}

/** About the size of `value` as JSON, counted until it passes `stopAfter`. */
function jsonBytes(value: unknown, stopAfter: number): number {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && total <= stopAfter) {
    const v = stack.pop();
    if (typeof v === 'string') total += v.length + 2;
    else if (Array.isArray(v)) {
      total += 2 + v.length;
      // Pushing a huge list whole would cost its size: take only what can still fit.
      for (let i = 0; i < v.length && i <= stopAfter - total; i++) stack.push(v[i]);
    } else if (v instanceof Map) {
      total += 2 + v.size;
      for (const [k, item] of v) {
        if (total > stopAfter) break;
        total += String(k).length + 3;
        stack.push(item);
      }
    } else if (isObject(v) && !(v instanceof Date)) {
      total += 2;
      for (const key in v) {
        if (total > stopAfter) break;
        if (Object.hasOwn(v, key)) {
          total += key.length + 4;
          stack.push(v[key]);
        }
      }
    } else total += 8;
  }
  return total;
}

/** Whether `value` nests objects or lists more than `levels` deep; iterative, so any depth costs no stack. */
export function tooDeep(value: unknown, levels: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  let seen = 0;
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (!isObject(v) || v instanceof Date) continue;
    if (depth >= levels) return true;
    // A wide value is bounded by its size limit; looking at its first 100,000 values is enough here.
    if (++seen > 100_000) return false;
    const children = v instanceof Map ? [...v.values()] : Array.isArray(v) ? v : Object.values(v);
    for (const child of children) if (isObject(child)) stack.push([child, depth + 1]);
  }
  return false;
}
