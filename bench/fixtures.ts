// The documents the scenarios write and read, shaped like the platform's real ones.
import mongoose from 'mongoose';
import { nodeId } from '../src/index.js';
import type { Schema } from 'mongoose';
import type { ServerInfo } from '../src/mongoServer.js';

type StreamType = 'source' | 'sink' | 'dlq' | 'replay';

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * The large pipeline: 51 streams (a source, a dead-letter queue, a replay stream, 48 sinks), 50 transforms
 * (48 fan out and chain into the sinks with the dlq as failure queue, one quarantines into the dlq, one replays it),
 * 49 source clients, 50 sink connections and a layout position for each of the 200 nodes; about 20 KB stored.
 */
export function largePipeline(workspaceId: string) {
  const topic = (k: number) => `orders.v${pad(k)}`;
  const streams: Array<{ topic: string; type: StreamType; description?: string }> = [
    { topic: 'orders.raw', type: 'source', description: 'Orders as the shop front and partner APIs post them' },
    { topic: 'orders.dlq', type: 'dlq', description: 'Events a transform could not process' },
    { topic: 'orders.replay', type: 'replay', description: 'Dead letters fixed and sent again' },
    ...Array.from({ length: 48 }, (_, k) => ({ topic: topic(k), type: 'sink' as const })),
  ];
  const transforms = [
    ...Array.from({ length: 48 }, (_, k) => ({
      type: 'jsonata',
      sourceStream: k < 8 ? 'orders.raw' : topic(k - 8),
      targetStream: topic(k),
      failureQueue: 'orders.dlq',
      expression: `$merge([$, { "stage": ${k} }])`,
    })),
    { type: 'filter', sourceStream: 'orders.raw', targetStream: 'orders.dlq', expression: '$not($exists(customer.id))' },
    { type: 'jsonata', sourceStream: 'orders.dlq', targetStream: 'orders.replay', expression: '$.original' },
  ];
  const sourceClients = Array.from({ length: 49 }, (_, k) => ({ clientId: `cl_shop${pad(k)}`, streamName: 'orders.raw' }));
  const sinkTopics = [...streams.slice(3).map((s) => s.topic), 'orders.dlq', 'orders.replay'];
  const sinkConnections = sinkTopics.map((streamName, k) => ({ connectionId: `cn_hook${pad(k)}`, streamName }));
  const nodes = [
    ...streams.map((s) => nodeId('stream', s.topic)),
    ...sourceClients.map((c) => nodeId('client', c.clientId)),
    ...sinkConnections.map((c) => nodeId('connection', c.connectionId)),
    ...transforms.map((t) => nodeId('transform', t.targetStream)),
  ];
  const nodePositions = Object.fromEntries(nodes.map((id, k) => [id, { x: (k % 20) * 180, y: Math.floor(k / 20) * 120 }]));
  return { workspaceId, name: 'Orders fan-out', code: 'ordr', streams, sourceClients, sinkConnections, transforms, nodePositions };
}

/** Every layout node id of the large pipeline (what a drag moves). */
export function largePipelineNodes(): string[] {
  return Object.keys(largePipeline('ws_x').nodePositions);
}

/** An everyday pipeline: 3 streams, 1 transform, 1 client, 1 connection, their 6 positions. */
export function smallPipeline(workspaceId: string, k: number) {
  return {
    workspaceId,
    name: `Pipeline ${k}`,
    code: code(k),
    streams: [
      { topic: 'events.in', type: 'source' as const },
      { topic: 'events.out', type: 'sink' as const },
      { topic: 'events.dlq', type: 'dlq' as const },
    ],
    sourceClients: [{ clientId: 'cl_app', streamName: 'events.in' }],
    sinkConnections: [{ connectionId: 'cn_hook', streamName: 'events.out' }],
    transforms: [{ type: 'jsonata', sourceStream: 'events.in', targetStream: 'events.out', failureQueue: 'events.dlq', expression: '$' }],
    nodePositions: Object.fromEntries(
      ['stream:events~in', 'stream:events~out', 'stream:events~dlq', 'client:cl_app', 'connection:cn_hook', 'transform:events~out'].map((id, n) => [id, { x: n * 100, y: 0 }]),
    ),
  };
}

/** The k-th four-letter code (aaaa, aaab, ...). */
export function code(k: number): string {
  let out = '';
  for (let n = k, i = 0; i < 4; i++, n = Math.floor(n / 26)) out = String.fromCharCode(97 + (n % 26)) + out;
  return out;
}

/** The notifier's typical notification: half email, half Slack, a small payload. */
export function notification(k: number) {
  const email = k % 2 === 0;
  return {
    channel: email ? ('email' as const) : ('slack' as const),
    type: 'pipeline.failed',
    correlationId: `req-${Math.floor(k / 10)}`,
    tenantId: 'ws_bench',
    target: email ? { email: `ops${k}@example.com` } : { slackChannel: '#alerts' },
    payload: { pipelineId: 'pl_orders', attempt: k % 5, message: 'Sink webhook answered 503' },
  };
}

export function session(k: number) {
  return {
    workspaceId: `ws_${k % 100}`,
    principalId: `cl_${k % 500}`,
    principalType: 'client' as const,
    scopes: ['publish'],
    topics: ['orders.raw'],
    context: { ip: '10.0.0.1', userAgent: 'shop-front/4.2' },
    expiresAt: new Date(Date.now() + 24 * 3600_000),
  };
}

/** Index options a server may lack, and the capability each needs. */
const OPTION_NEEDS = { partialFilterExpression: 'partialIndexes', expireAfterSeconds: 'ttlIndexes', collation: 'collation' } as const;

/**
 * Builds `schema`'s indexes on `collection` (any collection: the package's, the driver's, plain mongoose's), so
 * every contender writes through the same indexes; indexes the server cannot build are left out for all of them.
 */
export async function buildIndexes(collection: mongoose.mongo.Collection, schema: Schema, server: ServerInfo): Promise<void> {
  for (const [fields, options = {}] of schema.indexes()) {
    const lacking = Object.keys(options).some((o) => o in OPTION_NEEDS && !server.capabilities[OPTION_NEEDS[o as keyof typeof OPTION_NEEDS]]);
    if (!lacking) await collection.createIndex(fields as mongoose.mongo.IndexSpecification, options as mongoose.mongo.CreateIndexesOptions);
  }
}
