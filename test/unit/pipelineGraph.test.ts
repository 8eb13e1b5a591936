import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  graphNodeIds,
  nodeId,
  parseNodeId,
  validatePipelineGraph,
  type GraphProblemCode,
  type PipelineGraph,
  type StreamType,
} from '../../src/contracts/index.js';

interface Graph {
  streams: Array<{ topic: string; type: StreamType }>;
  sourceClients: Array<{ clientId: string; streamName: string }>;
  sinkConnections: Array<{ connectionId: string; streamName: string }>;
  transforms: Array<{ sourceStream: string; targetStream: string; failureQueue?: string }>;
  nodePositions: Record<string, { x: number; y: number }>;
}

/**
 * A valid graph: streams in a fixed order, every transform reading a stream and writing a later one (so no
 * cycle), each target written once and never a source stream, failure queues later dlq streams; producers on
 * source streams, sinks on any stream, each link once; positions on existing nodes.
 */
const validGraph: fc.Arbitrary<Graph> = fc
  .array(fc.constantFrom<StreamType>('source', 'sink', 'dlq', 'replay'), { minLength: 2, maxLength: 12 })
  .chain((types) => {
    const streams = [{ type: 'source' as StreamType }, ...types.map((type) => ({ type }))].map((s, i) => ({ topic: `t${i}.${s.type}`, type: s.type }));
    const n = streams.length;
    // Candidates are listed, not filtered, so generation never spins looking for a value that cannot exist.
    const forward = streams.flatMap((_, from) => streams.flatMap((s, to) => (from < to && s.type !== 'source' ? [{ from, to }] : [])));
    const dlqs = streams.flatMap((s, i) => (s.type === 'dlq' ? [i] : []));
    const sources = streams.flatMap((s, i) => (s.type === 'source' ? [i] : []));
    const transform = fc.record({ edge: fc.constantFrom(...(forward.length ? forward : [{ from: 0, to: 0 }])), dlq: fc.option(fc.constantFrom(...(dlqs.length ? dlqs : [-1])), { nil: undefined }) });
    return fc.record({
      streams: fc.constant(streams),
      transforms: fc.uniqueArray(transform, { selector: (t) => t.edge.to, maxLength: forward.length ? n : 0 }).map((ts) =>
        ts.map(({ edge: { from, to }, dlq }) => {
          const q = dlq !== undefined && dlq > from && dlq !== to ? streams[dlq]?.topic : undefined;
          return { sourceStream: streams[from]!.topic, targetStream: streams[to]!.topic, ...(q ? { failureQueue: q } : {}) };
        }),
      ),
      sourceClients: fc.uniqueArray(fc.record({ client: fc.nat(3), stream: fc.constantFrom(...sources) }), {
        selector: ({ client, stream }) => `${client}/${stream}`,
        maxLength: 6,
      }),
      sinkConnections: fc.uniqueArray(fc.record({ connection: fc.nat(3), stream: fc.nat(n - 1) }), {
        selector: ({ connection, stream }) => `${connection}/${stream}`,
        maxLength: 6,
      }),
    });
  })
  .chain(({ streams, transforms, sourceClients, sinkConnections }) => {
    const base = {
      streams,
      transforms,
      sourceClients: sourceClients.map(({ client, stream }) => ({ clientId: `cl_${client}`, streamName: streams[stream]!.topic })),
      sinkConnections: sinkConnections.map(({ connection, stream }) => ({ connectionId: `cn.${connection}`, streamName: streams[stream]!.topic })),
    };
    const nodes = [...graphNodeIds(base)];
    const coordinate = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });
    return fc.subarray(nodes).chain((keys) =>
      fc.tuple(...keys.map(() => fc.record({ x: coordinate, y: coordinate }))).map((positions) => ({
        ...base,
        nodePositions: Object.fromEntries(keys.map((k, i) => [k, positions[i]!])),
      })),
    );
  });

const clone = (g: Graph): Graph => structuredClone(g);
const hasProblem = (graph: PipelineGraph, code: GraphProblemCode, path: string) =>
  validatePipelineGraph(graph).some((p) => p.code === code && p.path === path);

describe('validatePipelineGraph', () => {
  it('a generated valid graph has no problem', () => {
    fc.assert(
      fc.property(validGraph, (g) => {
        expect(validatePipelineGraph(g)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('a repeated stream topic gives duplicate-topic at the second stream', () => {
    fc.assert(
      fc.property(validGraph, fc.nat(), (g0, k) => {
        const g = clone(g0);
        const copy = { ...g.streams[k % g.streams.length]! };
        g.streams.push(copy);
        expect(hasProblem(g, 'duplicate-topic', `streams.${g.streams.length - 1}.topic`)).toBe(true);
      }),
    );
  });

  it('a reference to an undeclared stream gives unknown-stream at that reference', () => {
    fc.assert(
      fc.property(validGraph, fc.constantFrom('transform', 'client', 'connection'), (g0, where) => {
        const g = clone(g0);
        if (where === 'transform' && g.transforms.length > 0) {
          g.transforms[0]!.sourceStream = 'nowhere';
          expect(hasProblem(g, 'unknown-stream', 'transforms.0.sourceStream')).toBe(true);
        } else if (where === 'client' && g.sourceClients.length > 0) {
          g.sourceClients[0]!.streamName = 'nowhere';
          expect(hasProblem(g, 'unknown-stream', 'sourceClients.0.streamName')).toBe(true);
        } else {
          g.sinkConnections.push({ connectionId: 'cn_x', streamName: 'nowhere' });
          expect(hasProblem(g, 'unknown-stream', `sinkConnections.${g.sinkConnections.length - 1}.streamName`)).toBe(true);
        }
      }),
    );
  });

  it('a failure queue that is not a dlq stream gives failure-queue-not-dlq', () => {
    fc.assert(
      fc.property(
        validGraph.filter((g) => g.transforms.length > 0),
        (g0) => {
          const g = clone(g0);
          g.streams.push({ topic: 'not.a.dlq', type: 'sink' });
          g.transforms[0]!.failureQueue = 'not.a.dlq';
          expect(hasProblem(g, 'failure-queue-not-dlq', 'transforms.0.failureQueue')).toBe(true);
        },
      ),
    );
  });

  it('a producer on a stream that is not a source stream gives client-stream-not-source', () => {
    fc.assert(
      fc.property(validGraph, fc.constantFrom<StreamType>('sink', 'dlq', 'replay'), (g0, type) => {
        const g = clone(g0);
        g.streams.push({ topic: 'elsewhere', type });
        g.sourceClients.push({ clientId: 'cl_new', streamName: 'elsewhere' });
        expect(hasProblem(g, 'client-stream-not-source', `sourceClients.${g.sourceClients.length - 1}.streamName`)).toBe(true);
      }),
    );
  });

  it('a transform writing into a source stream gives transform-writes-source', () => {
    fc.assert(
      fc.property(validGraph, (g0) => {
        const g = clone(g0);
        g.streams.push({ topic: 'side.in', type: 'source' }, { topic: 'side.mid', type: 'sink' });
        g.transforms.push({ sourceStream: 'side.mid', targetStream: 'side.in' });
        expect(hasProblem(g, 'transform-writes-source', `transforms.${g.transforms.length - 1}.targetStream`)).toBe(true);
      }),
    );
  });

  it('a transform reading its own target or its own failure queue gives its code', () => {
    fc.assert(
      fc.property(validGraph, (g0) => {
        const g = clone(g0);
        g.streams.push({ topic: 'loop', type: 'sink' }, { topic: 'loop.dlq', type: 'dlq' }, { topic: 'out', type: 'sink' });
        g.transforms.push({ sourceStream: 'loop', targetStream: 'loop' }, { sourceStream: 'loop.dlq', targetStream: 'out', failureQueue: 'loop.dlq' });
        const last = g.transforms.length - 1;
        expect(hasProblem(g, 'transform-reads-own-target', `transforms.${last - 1}.sourceStream`)).toBe(true);
        expect(hasProblem(g, 'transform-reads-own-failure-queue', `transforms.${last}.sourceStream`)).toBe(true);
      }),
    );
  });

  it('a failure queue that is also the transform\'s target gives failure-queue-is-target', () => {
    fc.assert(
      fc.property(validGraph, (g0) => {
        const g = clone(g0);
        g.streams.push({ topic: 'both', type: 'dlq' });
        g.transforms.push({ sourceStream: g.streams[0]!.topic, targetStream: 'both', failureQueue: 'both' });
        expect(hasProblem(g, 'failure-queue-is-target', `transforms.${g.transforms.length - 1}.failureQueue`)).toBe(true);
      }),
    );
  });

  it('a second transform with the same targetStream gives duplicate-target at the second', () => {
    fc.assert(
      fc.property(
        validGraph.filter((g) => g.transforms.length > 0),
        fc.nat(),
        (g0, k) => {
          const g = clone(g0);
          const t = g.transforms[k % g.transforms.length]!;
          g.transforms.push({ sourceStream: g.streams[0]!.topic, targetStream: t.targetStream });
          expect(hasProblem(g, 'duplicate-target', `transforms.${g.transforms.length - 1}.targetStream`)).toBe(true);
        },
      ),
    );
  });

  it('a transform closing a loop gives transform-cycle', () => {
    fc.assert(
      fc.property(validGraph, (g0) => {
        const g = clone(g0);
        g.streams.push({ topic: 'c.a', type: 'sink' }, { topic: 'c.b', type: 'replay' }, { topic: 'c.dlq', type: 'dlq' });
        // c.a -> c.b, and c.b fails into c.dlq, and c.dlq is replayed into c.a: a loop through a failure queue.
        g.transforms.push({ sourceStream: 'c.a', targetStream: 'c.b' }, { sourceStream: 'c.b', targetStream: 'c.x', failureQueue: 'c.dlq' }, { sourceStream: 'c.dlq', targetStream: 'c.a' });
        g.streams.push({ topic: 'c.x', type: 'sink' });
        const n = g.transforms.length;
        const cyclic = validatePipelineGraph(g).filter((p) => p.code === 'transform-cycle').map((p) => p.path);
        expect(cyclic).toEqual([`transforms.${n - 3}`, `transforms.${n - 2}`, `transforms.${n - 1}`]);
      }),
    );
  });

  it('a client or connection linked twice to one stream gives its duplicate code', () => {
    fc.assert(
      fc.property(validGraph, (g0) => {
        const g = clone(g0);
        const source = g.streams.find((s) => s.type === 'source')!.topic;
        g.sourceClients.push({ clientId: 'cl_twice', streamName: source }, { clientId: 'cl_twice', streamName: source });
        g.sinkConnections.push({ connectionId: 'cn_twice', streamName: source }, { connectionId: 'cn_twice', streamName: source });
        expect(hasProblem(g, 'duplicate-client-on-stream', `sourceClients.${g.sourceClients.length - 1}`)).toBe(true);
        expect(hasProblem(g, 'duplicate-connection-on-stream', `sinkConnections.${g.sinkConnections.length - 1}`)).toBe(true);
      }),
    );
  });

  it('a layout entry for no node gives unknown-node; a non-finite coordinate gives bad-position', () => {
    fc.assert(
      fc.property(validGraph, fc.constantFrom(NaN, Infinity, -Infinity), (g0, bad) => {
        const g = clone(g0);
        g.nodePositions[nodeId('stream', 'ghost')] = { x: 1, y: 1 };
        const real = nodeId('stream', g.streams[0]!.topic);
        g.nodePositions[real] = { x: 0, y: bad };
        expect(hasProblem(g, 'unknown-node', `nodePositions.${nodeId('stream', 'ghost')}`)).toBe(true);
        expect(hasProblem(g, 'bad-position', `nodePositions.${real}.y`)).toBe(true);
      }),
    );
  });

  it('reports every problem, not just the first', () => {
    const problems = validatePipelineGraph({
      streams: [{ topic: 'a', type: 'source' }, { topic: 'a', type: 'sink' }],
      sourceClients: [{ clientId: 'cl_1', streamName: 'b' }],
      transforms: [{ sourceStream: 'a', targetStream: 'a' }],
    });
    expect(problems.map((p) => p.code).sort()).toEqual(['duplicate-topic', 'transform-reads-own-target', 'transform-writes-source', 'unknown-stream']);
    for (const p of problems) expect(p.message.length).toBeGreaterThan(10);
  });
});

describe('node ids', () => {
  it('round-trip any topic or id, and never contain "." (not allowed in stored map keys)', () => {
    fc.assert(
      fc.property(fc.constantFrom('stream', 'client', 'connection', 'transform' as const), fc.stringMatching(/^[A-Za-z0-9._:-]{1,40}$/), (kind, key) => {
        const id = nodeId(kind, key);
        expect(id).not.toContain('.');
        expect(parseNodeId(id)).toEqual({ kind, key });
      }),
    );
    expect(parseNodeId('nokind')).toBeUndefined();
    expect(parseNodeId('table:x')).toBeUndefined();
  });
});
