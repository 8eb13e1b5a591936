// The pipeline graph rules, shared by the Pipeline schema (on every save) and the UI (while a user edits).
//
// A pipeline is a graph: source clients write into streams, transforms read one stream and write another (and
// their failures into a failure queue), sink connections read streams, and the UI stores a position per node.
import type { ClientConfigRef, ConnectionConfigRef, NodePosition, StreamDefinition, TransformConfig } from './documents.js';

export const GRAPH_PROBLEM_CODES = [
  'duplicate-topic',
  'unknown-stream',
  'failure-queue-not-dlq',
  'client-stream-not-source',
  'transform-writes-source',
  'transform-reads-own-target',
  'transform-reads-own-failure-queue',
  'failure-queue-is-target',
  'duplicate-target',
  'transform-cycle',
  'duplicate-client-on-stream',
  'duplicate-connection-on-stream',
  'unknown-node',
  'bad-position',
] as const;
export type GraphProblemCode = (typeof GRAPH_PROBLEM_CODES)[number];

/** One broken rule: `path` uses the document's own paths, e.g. `transforms.1.failureQueue`. */
export interface GraphProblem {
  path: string;
  code: GraphProblemCode;
  message: string;
}

/** The parts of a pipeline the graph rules read; a plain object, a lean document or a mongoose document. */
export interface PipelineGraph {
  streams?: ReadonlyArray<Pick<StreamDefinition, 'topic' | 'type'>> | null;
  sourceClients?: ReadonlyArray<Pick<ClientConfigRef, 'clientId' | 'streamName'>> | null;
  sinkConnections?: ReadonlyArray<Pick<ConnectionConfigRef, 'connectionId' | 'streamName'>> | null;
  transforms?: ReadonlyArray<Pick<TransformConfig, 'sourceStream' | 'targetStream' | 'failureQueue'>> | null;
  nodePositions?: ReadonlyMap<string, Partial<NodePosition>> | Readonly<Record<string, Partial<NodePosition>>> | null;
}

export const NODE_KINDS = ['stream', 'client', 'connection', 'transform'] as const;
export type NodeKind = (typeof NODE_KINDS)[number];

/**
 * The id of a graph node in `nodePositions`: `stream:<topic>`, `client:<clientId>`, `connection:<connectionId>`
 * or `transform:<targetStream>` (a transform is known by the stream it writes, which is unique). Stored map keys
 * may not contain ".", which topics often do, so "." is written "~" (no topic or id contains "~").
 */
export function nodeId(kind: NodeKind, key: string): string {
  if (!NODE_KINDS.includes(kind)) throw new TypeError(`nodeId: kind must be one of ${NODE_KINDS.join(', ')}`);
  if (typeof key !== 'string' || key === '') throw new TypeError(`nodeId: key must be a non-empty string (a topic, client id, connection id or target stream), got ${key === '' ? 'an empty string' : typeof key}`);
  return `${kind}:${key.replaceAll('.', '~')}`;
}

/** The kind and key of a node id, or undefined when it is not one. */
export function parseNodeId(id: string): { kind: NodeKind; key: string } | undefined {
  const colon = id.indexOf(':');
  const kind = id.slice(0, colon) as NodeKind;
  if (colon < 1 || !NODE_KINDS.includes(kind)) return undefined;
  return { kind, key: id.slice(colon + 1).replaceAll('~', '.') };
}

/**
 * Whether `key` may be stored as a layout key: a node id of a known kind, never a name a JavaScript object or a
 * mongoose map reserves (`__proto__`, `constructor`, `prototype`), nor one MongoDB reads as a path or operator.
 */
export function isLayoutKey(key: string): boolean {
  const node = typeof key === 'string' ? parseNodeId(key) : undefined;
  return node !== undefined && node.key !== '' && !key.includes('.') && !key.startsWith('$');
}

/** Every node id the graph has. */
export function graphNodeIds(graph: PipelineGraph): Set<string> {
  const keys: Array<[NodeKind, string | null | undefined]> = [
    ...(graph.streams ?? []).map((s): [NodeKind, string] => ['stream', s.topic]),
    ...(graph.sourceClients ?? []).map((c): [NodeKind, string] => ['client', c.clientId]),
    ...(graph.sinkConnections ?? []).map((c): [NodeKind, string] => ['connection', c.connectionId]),
    ...(graph.transforms ?? []).map((t): [NodeKind, string] => ['transform', t.targetStream]),
  ];
  // A part missing its key is reported by the schema's required rule, not here.
  return new Set(keys.filter(([, key]) => typeof key === 'string').map(([kind, key]) => nodeId(kind, key!)));
}

function entries<T>(map: ReadonlyMap<string, T> | Readonly<Record<string, T>> | null | undefined): Array<[string, T]> {
  if (!map) return [];
  return map instanceof Map ? [...map.entries()] : Object.entries(map);
}

/** Every problem of the graph (not just the first), in document order. An empty list means the graph is sound. */
export function validatePipelineGraph(graph: PipelineGraph): GraphProblem[] {
  const problems: GraphProblem[] = [];
  const report = (path: string, code: GraphProblemCode, message: string) => problems.push({ path, code, message });
  const streams = graph.streams ?? [];
  const transforms = graph.transforms ?? [];

  // Stream topics are unique within a pipeline.
  const typeOf = new Map<string, StreamDefinition['type']>();
  streams.forEach((s, i) => {
    if (typeOf.has(s.topic)) report(`streams.${i}.topic`, 'duplicate-topic', `stream topic "${s.topic}" is declared twice`);
    else typeOf.set(s.topic, s.type);
  });
  const declared = (path: string, topic: string | null | undefined): boolean => {
    if (topic == null || typeOf.has(topic)) return topic != null;
    report(path, 'unknown-stream', `"${topic}" is not a stream of this pipeline`);
    return false;
  };

  // Source clients write to declared `source` streams, each client once per stream.
  const clientsOnStream = new Set<string>();
  (graph.sourceClients ?? []).forEach((c, i) => {
    const path = `sourceClients.${i}.streamName`;
    if (declared(path, c.streamName) && typeOf.get(c.streamName) !== 'source') {
      report(path, 'client-stream-not-source', `client "${c.clientId}" writes to "${c.streamName}", a ${typeOf.get(c.streamName)} stream; producers write to source streams`);
    }
    const pair = `${c.clientId}\u0000${c.streamName}`;
    if (clientsOnStream.has(pair)) report(`sourceClients.${i}`, 'duplicate-client-on-stream', `client "${c.clientId}" is linked to "${c.streamName}" twice`);
    clientsOnStream.add(pair);
  });

  // Sink connections read declared streams, each connection once per stream.
  const connectionsOnStream = new Set<string>();
  (graph.sinkConnections ?? []).forEach((c, i) => {
    declared(`sinkConnections.${i}.streamName`, c.streamName);
    const pair = `${c.connectionId}\u0000${c.streamName}`;
    if (connectionsOnStream.has(pair)) {
      report(`sinkConnections.${i}`, 'duplicate-connection-on-stream', `connection "${c.connectionId}" is linked to "${c.streamName}" twice`);
    }
    connectionsOnStream.add(pair);
  });

  // Transforms: declared streams of fitting types, one writer per target stream.
  const writerOf = new Map<string, number>();
  transforms.forEach((t, i) => {
    const at = `transforms.${i}`;
    declared(`${at}.sourceStream`, t.sourceStream);
    if (declared(`${at}.targetStream`, t.targetStream) && typeOf.get(t.targetStream) === 'source') {
      report(`${at}.targetStream`, 'transform-writes-source', `transform writes into "${t.targetStream}", a source stream; only producers write there`);
    }
    if (t.failureQueue != null && declared(`${at}.failureQueue`, t.failureQueue) && typeOf.get(t.failureQueue) !== 'dlq') {
      report(`${at}.failureQueue`, 'failure-queue-not-dlq', `failure queue "${t.failureQueue}" is a ${typeOf.get(t.failureQueue)} stream, not a dlq stream`);
    }
    if (t.sourceStream === t.targetStream) {
      report(`${at}.sourceStream`, 'transform-reads-own-target', `transform reads "${t.sourceStream}", the stream it writes`);
    }
    if (t.failureQueue != null && t.sourceStream === t.failureQueue) {
      report(`${at}.sourceStream`, 'transform-reads-own-failure-queue', `transform reads "${t.sourceStream}", its own failure queue`);
    }
    if (t.failureQueue != null && t.failureQueue === t.targetStream) {
      report(`${at}.failureQueue`, 'failure-queue-is-target', `failure queue "${t.failureQueue}" is also the transform's target`);
    }
    const writer = writerOf.get(t.targetStream);
    if (writer !== undefined) {
      report(`${at}.targetStream`, 'duplicate-target', `"${t.targetStream}" is already the target of transforms.${writer}; a stream has one writing transform`);
    } else writerOf.set(t.targetStream, i);
  });

  // No cycle through transforms: events (or their failures) must never come back to a stream they came from.
  for (const [i, cycle] of transformCycles(transforms)) {
    report(`transforms.${i}`, 'transform-cycle', `transform is part of a cycle: ${cycle.join(' -> ')}`);
  }

  // Layout: each key names a node of this graph, at finite coordinates.
  const nodes = graphNodeIds(graph);
  for (const [key, position] of entries(graph.nodePositions)) {
    if (!nodes.has(key)) report(`nodePositions.${key}`, 'unknown-node', `"${key}" is not a node of this pipeline (nodes are ${NODE_KINDS.map((k) => `${k}:…`).join(', ')})`);
    problems.push(...positionProblems(key, position));
  }
  return problems;
}

/** What is wrong with one layout entry's value: it is `{ x, y }`, both finite numbers, and nothing else. */
export function positionProblems(key: string, position: unknown): GraphProblem[] {
  const problems: GraphProblem[] = [];
  const fields = typeof position === 'object' && position !== null ? (position as Record<string, unknown>) : {};
  for (const axis of ['x', 'y'] as const) {
    if (!Number.isFinite(fields[axis])) problems.push({ path: `nodePositions.${key}.${axis}`, code: 'bad-position', message: `${axis} of "${key}" must be a finite number` });
  }
  for (const field of Object.keys(fields)) {
    if (field !== 'x' && field !== 'y') problems.push({ path: `nodePositions.${key}.${field}`, code: 'bad-position', message: `nodePositions.${key}.${field} is not a field here (a position has x and y)` });
  }
  return problems;
}

/** How many cycles are spelled out in full in messages; the others name their streams only (keeps the check linear). */
const CYCLES_SPELLED_OUT = 10;

/**
 * The transforms that lie on a cycle of the stream graph (an edge from each transform's source stream to its
 * target and to its failure queue), each with a cycle through it. An edge lies on a cycle when both its ends are in
 * one strongly connected component (Tarjan's algorithm, linear in the graph's size). A transform reading its own
 * target is reported by its own rule, not here.
 */
function transformCycles(transforms: PipelineGraph['transforms'] & object): Array<[number, string[]]> {
  const edges = new Map<string, string[]>();
  const outOf = (stream: string) => edges.get(stream) ?? [];
  for (const t of transforms) {
    for (const to of [t.targetStream, t.failureQueue]) {
      if (to == null || to === t.sourceStream) continue;
      const list = edges.get(t.sourceStream);
      if (list) list.push(to);
      else edges.set(t.sourceStream, [to]);
    }
  }
  const component = stronglyConnected(edges);
  const found: Array<[number, string[]]> = [];
  transforms.forEach((t, i) => {
    const to = [t.targetStream, t.failureQueue].find((s) => s != null && s !== t.sourceStream && component.get(s) === component.get(t.sourceStream));
    if (to == null) return;
    const back = found.length < CYCLES_SPELLED_OUT ? pathBetween(outOf, to, t.sourceStream) : undefined;
    found.push([i, [t.sourceStream, ...(back ?? [to, '…', t.sourceStream])]]);
  });
  return found;
}

/** The strongly connected component of every stream that has an edge (Tarjan, iterative: no recursion limit). */
function stronglyConnected(edges: Map<string, string[]>): Map<string, number> {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const component = new Map<string, number>();
  const stack: string[] = [];
  let next = 0;
  for (const root of edges.keys()) {
    if (index.has(root)) continue;
    const work: Array<[string, number]> = [[root, 0]];
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const [v, i] = frame;
      if (i === 0 && !index.has(v)) {
        index.set(v, next);
        low.set(v, next++);
        stack.push(v);
      }
      const out = edges.get(v) ?? [];
      if (i < out.length) {
        frame[1]++;
        const w = out[i]!;
        if (!index.has(w)) work.push([w, 0]);
        else if (!component.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1]![0];
        low.set(parent, Math.min(low.get(parent)!, low.get(v)!));
      }
      if (low.get(v) === index.get(v)) {
        let w: string;
        do {
          w = stack.pop()!;
          component.set(w, index.get(v)!);
        } while (w !== v);
      }
    }
  }
  return component;
}

/** A shortest path of stream names from `from` to `to` (both included), or undefined. */
function pathBetween(outOf: (stream: string) => string[], from: string, to: string): string[] | undefined {
  const previous = new Map<string, string | null>([[from, null]]);
  const queue = [from];
  for (let head = 0; head < queue.length; head++) {
    const at = queue[head]!;
    if (at === to) {
      const path = [at];
      for (let p = previous.get(at); p != null; p = previous.get(p)) path.push(p);
      return path.reverse();
    }
    for (const next of outOf(at)) {
      if (!previous.has(next)) {
        previous.set(next, at);
        queue.push(next);
      }
    }
  }
  return undefined;
}
