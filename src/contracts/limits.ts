// The bounds of every input the package accepts: one table, read by the schemas (a check on the raw input, before
// any casting or normalisation) and by a browser or another service (to refuse early, with the same numbers).
// Dependency-free. The README's "Reliability" section says why each number.

/** A bound on one input: a list's `items`, a map's `keys`, a string's `chars`, or a JSON-like value's `bytes`. */
export type Limit = { readonly items: number } | { readonly keys: number } | { readonly chars: number } | { readonly bytes: number };

const NAME = { chars: 200 } as const;

/** Per model, per path (`a.b` for a field of a sub-document, also of each element of a list). */
export const INPUT_LIMITS = {
  Workspace: { name: NAME, allowedOrigins: { items: 100 } },
  Pipeline: {
    name: NAME,
    streams: { items: 200 },
    sourceClients: { items: 200 },
    sinkConnections: { items: 200 },
    transforms: { items: 200 },
    // One position per node at most: streams + clients + connections + transforms.
    nodePositions: { keys: 800 },
    'transforms.expression': { chars: 20_000 },
  },
  Client: { name: NAME, allowedScopes: { items: 200 }, allowedTopics: { items: 1000 } },
  Connection: { name: NAME, 'config.headers': { keys: 50 } },
  User: { username: { chars: 254 }, roles: { items: 50 } },
  Session: { scopes: { items: 200 }, topics: { items: 1000 }, context: { bytes: 16 * 1024 } },
  Notification: { payload: { bytes: 256 * 1024 } },
  Contact: { tags: { items: 100 }, attributes: { bytes: 16 * 1024 } },
} as const satisfies Record<string, Record<string, Limit>>;

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
    over = jsonBytes(value, limit.bytes) > limit.bytes;
    bound = `at most ${limit.bytes} bytes as JSON`;
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
