// npm run bench: the package's models against the same work done with the raw MongoDB driver and with plain
// mongoose (the same schemas without the package's rules), on one server, in one process, round by round.
// Absolute figures depend on the machine and its load; the ratios to the baselines much less.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mongoose from 'mongoose';
import { makeModels } from '../src/index.js';
import { startMongoServer } from '../src/mongoServer.js';
import { formatScenario, measureCase, roundTripCounter, scenarioMet, type BenchContext, type Scenario, type ScenarioResult } from './harness.js';
import { buildIndexes } from './fixtures.js';
import { formatSummary, mergeProfiles, summariseProfile, type CpuProfile } from './profile.js';
import { authenticate } from './scenarios/authenticate.js';
import { insertManyScenario } from './scenarios/insertMany.js';
import { largePipelineScenario } from './scenarios/largePipeline.js';
import { layoutDrag } from './scenarios/layoutDrag.js';
import { listPipelines } from './scenarios/listPipelines.js';
import { makeModelsScenario } from './scenarios/makeModels.js';
import { sessionCheck } from './scenarios/sessionCheck.js';

const SCENARIOS: Scenario[] = [sessionCheck, listPipelines, largePipelineScenario, layoutDrag, insertManyScenario, authenticate, makeModelsScenario];

const HELP = `npm run bench -- [options]

  --only <scenario>      run only these scenarios (id or number; repeat or separate with commas)
  --quick                a smoke run: tiny data sets and counts, 2 rounds (figures mean nothing)
  --rounds <n>           rounds per case (default 5)
  --json <file>          also write the results as JSON
  --cpu-prof             profile each contender's recorded batches; write .cpuprofile files and print the
                         functions with the most self time (timings of a profiled run are inflated)
  --cpu-prof-dir <dir>   where the profiles go (default bench-profiles)
  --summarise <file>     print the self-time summary of any .cpuprofile (e.g. from node --cpu-prof) and exit

Scenarios: ${SCENARIOS.map((s) => `${s.number} ${s.id}`).join(', ')}
The server: MONGODB_URI when set, else the first the tests use: mongod, else SecantusDB, else FerretDB
(DATA_MODELS_SERVER=secantus|ferretdb|mongod picks one).`;

const { values } = parseArgs({
  options: {
    only: { type: 'string', multiple: true },
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    json: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    'cpu-prof-dir': { type: 'string', default: 'bench-profiles' },
    summarise: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(HELP);
  process.exit(0);
}
if (values.summarise) {
  const profile = JSON.parse(readFileSync(values.summarise, 'utf8')) as CpuProfile;
  console.log(formatSummary(values.summarise, summariseProfile(profile, 25)));
  process.exit(0);
}

const wanted = (values.only ?? []).flatMap((o) => o.split(',')).map((o) => o.trim()).filter(Boolean);
const unknown = wanted.filter((w) => !SCENARIOS.some((s) => s.id === w || String(s.number) === w));
if (unknown.length > 0) {
  console.error(`Unknown scenario ${unknown.join(', ')}.\n\n${HELP}`);
  process.exit(2);
}
const selected = SCENARIOS.filter((s) => wanted.length === 0 || wanted.includes(s.id) || wanted.includes(String(s.number)));
const quick = values.quick;
const rounds = Number(values.rounds ?? (quick ? 2 : 5));
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`--rounds must be a positive integer, got "${values.rounds}"`);
  process.exit(2);
}

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  loadAverageAtStart: loadavg()[0]!,
};
const server = await startMongoServer();
const dbName = `bench_${Date.now()}`;
const startedAt = new Date().toISOString();
console.log(`${startedAt}: ${server.description}; ${machine.cores} x ${machine.cpu}, ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}, mongoose ${mongoose.version}, load ${machine.loadAverageAtStart.toFixed(2)}`);
console.log(`${quick ? 'Quick smoke run (figures mean nothing); ' : ''}${rounds} rounds per case, contenders interleaved round by round.`);

const conn = await mongoose.createConnection(server.uri, { dbName, autoIndex: false, autoCreate: false }).asPromise();
const results: ScenarioResult[] = [];
try {
  const models = makeModels(conn);
  const ctx: BenchContext = { conn, models, db: conn.db!, server, quick, size: (full, small) => (quick ? small : full) };
  // The package's collections get their indexes once; scenarios build the same ones on their baselines' collections.
  for (const model of Object.values(models)) await buildIndexes(model.collection, model.schema, server);
  const trips = roundTripCounter(conn);
  for (const scenario of selected) {
    const cases = await scenario.setup(ctx);
    const profiles = new Map<string, CpuProfile[]>();
    const caseResults = [];
    for (const c of cases) {
      const onProfile = values['cpu-prof']
        ? (contender: { name: string }, profile: CpuProfile) => {
            const key = `${c.name}\u0000${contender.name}`;
            profiles.set(key, [...(profiles.get(key) ?? []), profile]);
          }
        : undefined;
      caseResults.push(await measureCase(c, { rounds, trips, onProfile }));
    }
    const result: ScenarioResult = { id: scenario.id, number: scenario.number, title: scenario.title, target: scenario.target, met: scenarioMet(caseResults), cases: caseResults };
    results.push(result);
    console.log(`\n${formatScenario(result)}`);
    if (profiles.size > 0) writeProfiles(scenario.id, profiles, values['cpu-prof-dir']);
  }
} finally {
  await conn.dropDatabase();
  await conn.close();
  await server.stop();
}

console.log('\nSummary');
for (const r of results) console.log(`  ${r.number}. ${r.id.padEnd(16)} ${r.met === null ? 'no target' : r.met ? 'target met' : 'target MISSED'}`);
if (values.json) {
  const report = {
    version: 1,
    date: startedAt,
    finishedAt: new Date().toISOString(),
    mongoose: mongoose.version,
    quick,
    rounds,
    machine: { ...machine, loadAverageAtEnd: loadavg()[0]! },
    server: { description: server.description, kind: server.kind },
    scenarios: results,
  };
  writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nWrote ${values.json}`);
}

function writeProfiles(scenarioId: string, profiles: Map<string, CpuProfile[]>, dir: string): void {
  mkdirSync(dir, { recursive: true });
  const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  for (const [key, parts] of profiles) {
    const [caseName, contender] = key.split('\u0000') as [string, string];
    const profile = mergeProfiles(parts);
    const file = join(dir, `${scenarioId}.${slug(caseName)}.${slug(contender)}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    console.log(formatSummary(`${caseName} / ${contender} (${file})`, summariseProfile(profile, 12)));
  }
}
