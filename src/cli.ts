#!/usr/bin/env node
// data-models: the package's command line. `demo` shows the package's main job end to end; `sync-indexes`
// builds every model's indexes on a database (the explicit index build that tenant connections skip).
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import mongoose from 'mongoose';
import { forWorkspace, makeModels, nodeId, syncIndexes, type Models } from './index.js';
import { applyIndexes, planIndexes, type IndexSpec } from './indexes.js';
import { probeServer } from './capabilities.js';
import { startMongoServer } from './mongoServer.js';

const HELP = `Usage: data-models <command> [options]

Commands:
  demo           Create a workspace, client, connection, pipeline, user and session, and print them.
                 Uses --uri or MONGODB_URI, else starts the first embedded server it can: mongod if one
                 can be had, else SecantusDB (installed with python3 on first use), else FerretDB
                 (built with Go on first use).
  sync-indexes   Build every model's indexes on the database of --uri (or MONGODB_URI), drop the ones
                 the schemas no longer declare, and list per model any index the server cannot build.
  indexes        Per model, the indexes to create, to rebuild and to drop on the database(s) of --uri
                 (or MONGODB_URI), with their options, and the ones this server cannot build and why.
                 A dry run unless --apply; drops and rebuilds only with --apply --drop.

Options:
  --uri <uri>    MongoDB connection string
  --db <name>    database name (demo: a new data_models_demo_<time> database, dropped afterwards)
  --keep         demo: keep the demo database
  --db <name>    indexes: a database to plan; repeat it for several (default: the one of --uri)
  --apply        indexes: build the plan, waiting for each build, with progress on stderr
  --drop         indexes: with --apply, also drop what the schemas no longer declare and rebuild changed ones
  --json         indexes: print one JSON report on stdout
  --strict       indexes: exit 1 when the server cannot build an index the schemas declare (an index kept with
                 other keys or options than declared, because rebuilding needs --drop, always exits 1)
  -h, --help     this text
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      uri: { type: 'string' },
      db: { type: 'string', multiple: true },
      keep: { type: 'boolean', default: false },
      apply: { type: 'boolean', default: false },
      drop: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command] = positionals;
  if (values.help || !command) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
  if (command === 'demo') return demo(values.uri ?? process.env.MONGODB_URI, values.db?.[0], values.keep);
  if (command === 'indexes') {
    const uri = values.uri ?? process.env.MONGODB_URI;
    if (!uri) throw new Error('indexes needs --uri or MONGODB_URI');
    if (values.drop && !values.apply) throw new Error('--drop only acts with --apply (a dry run already lists what it would drop)');
    return indexes(uri, values.db ?? [], values);
  }
  if (command === 'sync-indexes') {
    const uri = values.uri ?? process.env.MONGODB_URI;
    if (!uri) throw new Error('sync-indexes needs --uri or MONGODB_URI');
    const conn = await mongoose.createConnection(uri, { dbName: values.db?.[0], autoIndex: false }).asPromise();
    try {
      const report = await syncIndexes(makeModels(conn));
      console.log(`Indexes built on ${conn.name}, except where this server lacks what an index needs:`);
      for (const [model, { dropped, notBuilt }] of Object.entries(report)) {
        const notes = [...notBuilt.map((n) => `not built ${n.index}: ${n.reason}`), ...(dropped.length ? [`dropped ${dropped.join(', ')}`] : [])];
        console.log(`  ${model.padEnd(12)} ${notes.length ? notes.join('; ') : 'all built'}`);
      }
    } finally {
      await conn.close();
    }
    return 0;
  }
  process.stderr.write(`Unknown command "${command}".\n\n${HELP}`);
  return 2;
}

type IndexFlags = { apply: boolean; drop: boolean; json: boolean; strict: boolean };

async function indexes(uri: string, databases: string[], flags: IndexFlags): Promise<number> {
  const root = await mongoose.createConnection(uri, { autoIndex: false, autoCreate: false }).asPromise();
  const out = (line: string) => flags.json || process.stdout.write(`${line}\n`);
  try {
    const server = await probeServer(root.getClient());
    const reports = [];
    out(`Server: ${server.description}`);
    for (const database of databases.length > 0 ? databases : [root.name]) {
      const models = makeModels(database === root.name ? root : root.useDb(database, { useCache: true }));
      const plan = await planIndexes(models, { server });
      out(`Database ${database}${flags.apply ? '' : ' (dry run)'}:`);
      for (const [model, entry] of Object.entries(plan.models)) {
        const lines = [
          ...entry.create.map((i) => `create ${describeIndex(i)}`),
          ...entry.change.map((i) => `rebuild ${describeIndex(i)}${flags.drop ? '' : ' (only with --apply --drop)'}`),
          ...entry.drop.map((i) => `drop ${describeIndex(i)}${flags.drop ? '' : ' (only with --apply --drop)'}`),
          ...entry.cannotBuild.map((i) => `cannot build ${describeIndex(i)} on this server: ${i.reason}`),
        ];
        if (lines.length === 0) lines.push(`in sync (${entry.unchanged.length} indexes)`);
        lines.forEach((line, n) => out(`  ${(n === 0 ? model : '').padEnd(13)}${line}`));
      }
      const applied = flags.apply
        ? await applyIndexes(models, plan, {
            drop: flags.drop,
            onProgress: (p) => {
              if (p.state !== 'started') process.stderr.write(`  [${p.done}/${p.total}] ${p.model} ${p.action} ${p.index}: ${p.state === 'done' ? 'done' : `skipped, ${p.reason}`}\n`);
            },
          })
        : undefined;
      reports.push({ database, plan, applied });
    }
    const notBuilt = reports.flatMap(({ plan, applied }) =>
      Object.entries(plan.models).flatMap(([model, entry]) => [
        ...entry.cannotBuild.map((i) => `${model}.${i.name}`),
        ...(applied?.[model as keyof typeof applied].notBuilt.filter((n) => !entry.cannotBuild.some((i) => i.name === n.index)).map((n) => `${model}.${n.index}`) ?? []),
      ]),
    );
    // A declared index left with other keys or options (a non-unique username_1 where the schema wants it unique)
    // means a rule the database does not enforce: never a success.
    const kept = reports.flatMap(({ applied }) => Object.entries(applied ?? {}).flatMap(([model, result]) => result.kept.map((index) => `${model}.${index}`)));
    if (flags.json) process.stdout.write(`${JSON.stringify({ server: server.description, capabilities: server.capabilities, ...flags, databases: reports }, null, 2)}\n`);
    else {
      const pending = reports.reduce((n, { plan }) => n + Object.values(plan.models).reduce((m, e) => m + e.create.length + e.change.length + e.drop.length, 0), 0);
      out(
        flags.apply
          ? `${kept.length ? `Not in sync: ${kept.join(', ')} differ from the schemas and were kept (rebuild with --apply --drop).` : 'Applied.'}${notBuilt.length ? ` Not built on this server: ${notBuilt.join(', ')}.` : ''}`
          : `Dry run: nothing changed (${pending} changes planned; --apply builds them).`);
    }
    if (kept.length > 0) process.stderr.write(`Not in sync: ${kept.join(', ')} differ from the schemas and were kept; rebuild them with --apply --drop.\n`);
    return kept.length > 0 || (flags.strict && notBuilt.length > 0) ? 1 : 0;
  } finally {
    await root.close();
  }
}

function describeIndex(index: IndexSpec): string {
  const options = Object.keys(index.options).length > 0 ? ` ${JSON.stringify(index.options)}` : '';
  return `${index.name} ${JSON.stringify(index.key)}${options}`;
}

async function demo(uri: string | undefined, dbName: string | undefined, keep: boolean): Promise<number> {
  const started = Date.now();
  if (uri) process.env.MONGODB_URI = uri;
  const server = await startMongoServer({ log: (line) => console.log(line) });
  console.log(`Server: ${server.description} (ready in ${Date.now() - started} ms)`);
  const conn = await mongoose.createConnection(server.uri, { dbName: dbName ?? `data_models_demo_${Date.now()}` }).asPromise();
  try {
    // Sink credentials are stored encrypted: the demo makes itself a key unless DATA_MODELS_SECRET_KEYS gives one.
    const secretKeys = process.env.DATA_MODELS_SECRET_KEYS ? undefined : { current: 'demo', keys: { demo: randomBytes(32).toString('base64') } };
    const models = makeModels(conn, { secretKeys });
    await run(models);
    if (!keep) await conn.dropDatabase();
    else console.log(`\nKept database "${conn.name}".`);
  } finally {
    await conn.close();
    await server.stop();
  }
  return 0;
}

async function run(models: Models) {
  // The seed's usage example, verbatim.
  const workspace = await models.Workspace.create({ _id: 'ws_1', name: 'Acme' });

  const { client, secret: clientSecret } = await models.Client.createWithSecret({ name: 'Storefront', allowedScopes: ['events:write'], allowedTopics: ['orders.raw'] });

  const connection = await models.Connection.create({
    name: 'Fulfilment webhook',
    type: 'HTTP',
    config: { url: 'https://fulfilment.example.com/hooks/orders', method: 'POST', headers: { Authorization: 'Bearer demo-token' } },
  });

  // Everything of one workspace goes through forWorkspace: the workspace is added to every filter and document.
  const acme = forWorkspace(models, workspace._id);
  const pipeline = await acme.Pipeline.create({
    name: 'Orders',
    streams: [
      { topic: 'orders.raw', type: 'source', description: 'orders as the storefront sends them' },
      { topic: 'orders.valid', type: 'sink', description: 'validated orders' },
      { topic: 'orders.rejected', type: 'dlq', description: 'orders that failed validation' },
    ],
    sourceClients: [{ clientId: client._id, role: 'producer', connectorType: 'http', streamName: 'orders.raw' }],
    sinkConnections: [{ connectionId: connection._id, connectorType: 'http', streamName: 'orders.valid' }],
    transforms: [
      { type: 'jsonata', sourceStream: 'orders.raw', targetStream: 'orders.valid', failureQueue: 'orders.rejected', expression: '$[total > 0]' },
    ],
    nodePositions: {
      [nodeId('client', client._id)]: { x: 0, y: 80 },
      [nodeId('stream', 'orders.raw')]: { x: 200, y: 80 },
      [nodeId('transform', 'orders.valid')]: { x: 400, y: 80 },
      [nodeId('stream', 'orders.valid')]: { x: 600, y: 80 },
      [nodeId('stream', 'orders.rejected')]: { x: 600, y: 200 },
      [nodeId('connection', connection._id)]: { x: 800, y: 80 },
    },
  });
  const linkProblems = await models.Pipeline.checkLinks(pipeline);
  if (linkProblems.length === 0) await acme.Pipeline.updateOne({ _id: pipeline._id }, { status: 'active' });

  const user = new models.User({ workspaceId: workspace._id, username: 'Ada@Acme.example', roles: ['admin'] });
  await user.setPassword('demo-user-password');
  await user.save();

  const authenticated = await models.Client.authenticate(client._id, clientSecret);
  const { session, token } = await models.Session.issue({
    workspaceId: workspace._id,
    principalId: authenticated!._id,
    principalType: 'client',
    scopes: authenticated!.allowedScopes,
    topics: authenticated!.allowedTopics,
    context: { via: 'demo' },
    ttlSeconds: 3600,
  });

  const stored = await acme.Pipeline.findById(pipeline._id).lean();
  const revealed = await connection.revealSecrets();
  const userWithWorkspace = await acme.User.findById(user._id).populate<{ workspace: { name: string } }>('workspace');
  const live = await models.Session.verify(token);

  console.log(`
Workspace   ${workspace._id}  "${workspace.name}"  code=${workspace.code}  status=${workspace.status}
Client      ${client._id}  "${client.name}"  secret ${clientSecret.slice(0, 9)}… stored as an HMAC; authenticate(secret) -> ${authenticated ? 'ok' : 'FAILED'}
            as JSON: ${JSON.stringify(client)}
Connection  ${connection._id}  "${connection.name}"  ${connection.type} ${connection.config.method} ${connection.config.url}
            as JSON (headers hidden): ${JSON.stringify(connection.toJSON().config)}
            stored encrypted; revealSecrets() gives the sink runner headers: ${Object.keys(revealed.headers ?? {}).join(', ')}
Pipeline    ${pipeline._id}  "${pipeline.name}"  code=${pipeline.code}  status=${stored!.status} (links checked: ${linkProblems.length} problems)
            streams:    ${stored!.streams.map((s) => `${s.topic} (${s.type})`).join(', ')}
            producers:  ${stored!.sourceClients.map((c) => `${c.clientId} -> ${c.streamName}`).join(', ')}
            transforms: ${stored!.transforms.map((t) => `${t.sourceStream} -> ${t.targetStream} (failures -> ${t.failureQueue})`).join(', ')}
            sinks:      ${stored!.sinkConnections.map((c) => `${c.streamName} -> ${c.connectionId}`).join(', ')}
            layout:     ${Object.keys(stored!.nodePositions).length} node positions
User        ${user._id}  username=${user.username}  workspace (populated)="${userWithWorkspace!.workspace.name}"
Session     ${session._id}  ${session.principalType} ${session.principalId}  live=${live ? 'yes' : 'no'} (verify(token); token ${token.slice(0, 9)}… is not stored)  expires ${session.expiresAt.toISOString()}
`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`data-models: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
