// The measuring half of `npm run bench`: runs each case's contenders round by round (the order rotated every
// round, so no contender always follows the same one), and turns the samples into the figures of the table:
// wall p50/p99 per operation, client CPU per operation, throughput, round trips, and ratios to the raw driver and
// to plain mongoose. Scenarios (bench/scenarios/*.ts) only say what to run; nothing here knows a model.
import { performance } from 'node:perf_hooks';
import type mongoose from 'mongoose';
import type { Models } from '../src/index.js';
import type { ServerInfo } from '../src/mongoServer.js';
import { startProfile, type CpuProfile } from './profile.js';

/** `driver` and `plain` are the baselines every ratio is taken against; `package` is what the targets judge. */
export type Role = 'driver' | 'plain' | 'package' | 'extra';

export interface Contender {
  name: string;
  role: Role;
  /** One operation; `i` is unique per contender within a case (for ids, keys, positions). */
  op(i: number): Promise<unknown>;
  /** Unmeasured clean-up after each batch (e.g. releasing tenant connections). */
  afterBatch?(): void | Promise<void>;
}

export type Metric = 'p50' | 'p99' | 'cpu' | 'opsPerSec';

/** One rule of a target, judged on the `package` contender: a ratio to a baseline, or an absolute figure. */
export interface Check {
  metric: Metric;
  against: 'driver' | 'plain' | 'absolute';
  /** Met when the value is at most this (ratios, or µs for p50/p99/cpu when absolute)... */
  max?: number;
  /** ...or at least this (ops/s). */
  min?: number;
}

export interface Case {
  name: string;
  concurrency: number;
  /** Operations per contender per round. */
  ops: number;
  /** Operations per contender before the first round, not recorded. */
  warmup: number;
  /** Overrides the run's rounds (a few slow operations need fewer). */
  rounds?: number;
  contenders: Contender[];
  checks: Check[];
}

export interface BenchContext {
  conn: mongoose.Connection;
  models: Models;
  db: mongoose.mongo.Db;
  server: ServerInfo;
  quick: boolean;
  /** The full-run figure, or the smoke-run one with `--quick`. */
  size(full: number, quick: number): number;
}

export interface Scenario {
  id: string;
  number: number;
  title: string;
  /** The target, in words. */
  target: string;
  setup(ctx: BenchContext): Promise<Case[]>;
}

export interface Ratios {
  p50: number;
  p99: number;
  cpu: number;
  opsPerSec: number;
}

export interface ContenderResult {
  name: string;
  role: Role;
  samples: number;
  p50Us: number;
  p99Us: number;
  cpuUsPerOp: number;
  opsPerSec: number;
  roundTripsPerOp: number;
  vsDriver?: Ratios;
  vsPlain?: Ratios;
}

export interface CheckResult {
  text: string;
  value: number;
  limit: number;
  met: boolean;
}

export interface CaseResult {
  name: string;
  concurrency: number;
  opsPerRound: number;
  rounds: number;
  contenders: ContenderResult[];
  checks: CheckResult[];
}

export interface ScenarioResult {
  id: string;
  number: number;
  title: string;
  target: string;
  /** null when the scenario states no checkable target. */
  met: boolean | null;
  cases: CaseResult[];
}

interface Batch {
  latenciesMs: Float64Array;
  cpuUs: number;
  wallMs: number;
  roundTrips: number;
}

/** Counts the driver's connection check-outs: one per command sent (a cursor's getMore included). */
export function roundTripCounter(conn: mongoose.Connection): { readonly count: number } {
  const counter = { count: 0 };
  conn.getClient().on('connectionCheckedOut', () => counter.count++);
  return counter;
}

async function runBatch(op: Contender['op'], first: number, ops: number, concurrency: number, trips: { readonly count: number }): Promise<Batch> {
  const latenciesMs = new Float64Array(ops);
  let next = 0;
  const worker = async () => {
    while (next < ops) {
      const k = next++;
      const start = performance.now();
      await op(first + k);
      latenciesMs[k] = performance.now() - start;
    }
  };
  const trips0 = trips.count;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, ops) }, worker));
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  return { latenciesMs, cpuUs: cpu.user + cpu.system, wallMs, roundTrips: trips.count - trips0 };
}

export interface MeasureOptions {
  rounds: number;
  trips: { readonly count: number };
  /** When set, every recorded batch of every contender runs under the CPU profiler; the profiles come back here. */
  onProfile?: (contender: Contender, profile: CpuProfile) => void;
}

/** Warms up, then runs `rounds` rounds, each contender one batch per round, the order rotated each round. */
export async function measureCase(c: Case, options: MeasureOptions): Promise<CaseResult> {
  const rounds = c.rounds ?? options.rounds;
  const next = c.contenders.map(() => 0);
  const batches: Batch[][] = c.contenders.map(() => []);
  const run = async (index: number, ops: number) => {
    const contender = c.contenders[index]!;
    const batch = await runBatch(contender.op, next[index]!, ops, c.concurrency, options.trips);
    next[index]! += ops;
    await contender.afterBatch?.();
    return batch;
  };
  for (let index = 0; index < c.contenders.length; index++) if (c.warmup > 0) await run(index, c.warmup);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < c.contenders.length; k++) {
      const index = (k + round) % c.contenders.length;
      const profiling = options.onProfile && (await startProfile());
      batches[index]!.push(await run(index, c.ops));
      if (profiling) options.onProfile!(c.contenders[index]!, await profiling.stop());
    }
  }
  const contenders = c.contenders.map((contender, index) => summarise(contender, batches[index]!));
  const baseline = (role: Role) => contenders.find((r) => r.role === role);
  for (const result of contenders) {
    const driver = baseline('driver');
    const plain = baseline('plain');
    if (driver && result !== driver) result.vsDriver = ratios(result, driver);
    if (plain && result !== plain) result.vsPlain = ratios(result, plain);
  }
  const subject = baseline('package');
  return {
    name: c.name,
    concurrency: c.concurrency,
    opsPerRound: c.ops,
    rounds,
    contenders,
    checks: subject ? c.checks.map((check) => judge(check, subject)) : [],
  };
}

function summarise(contender: Contender, batches: Batch[]): ContenderResult {
  const latencies = Float64Array.from(batches.flatMap((b) => [...b.latenciesMs])).sort();
  const samples = latencies.length;
  const sum = (pick: (b: Batch) => number) => batches.reduce((total, b) => total + pick(b), 0);
  return {
    name: contender.name,
    role: contender.role,
    samples,
    p50Us: percentile(latencies, 50) * 1000,
    p99Us: percentile(latencies, 99) * 1000,
    cpuUsPerOp: sum((b) => b.cpuUs) / samples,
    opsPerSec: samples / (sum((b) => b.wallMs) / 1000),
    roundTripsPerOp: sum((b) => b.roundTrips) / samples,
  };
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function ratios(result: ContenderResult, base: ContenderResult): Ratios {
  return {
    p50: result.p50Us / base.p50Us,
    p99: result.p99Us / base.p99Us,
    cpu: result.cpuUsPerOp / base.cpuUsPerOp,
    opsPerSec: result.opsPerSec / base.opsPerSec,
  };
}

const METRIC_WORDS: Record<Metric, string> = { p50: 'wall p50', p99: 'wall p99', cpu: 'client CPU', opsPerSec: 'throughput' };
const ABSOLUTE_UNITS: Record<Metric, string> = { p50: ' µs', p99: ' µs', cpu: ' µs/op', opsPerSec: '/s' };

function judge(check: Check, subject: ContenderResult): CheckResult {
  const absolute = { p50: subject.p50Us, p99: subject.p99Us, cpu: subject.cpuUsPerOp, opsPerSec: subject.opsPerSec };
  const relative = check.against === 'driver' ? subject.vsDriver : check.against === 'plain' ? subject.vsPlain : absolute;
  const value = relative?.[check.metric] ?? Number.NaN;
  const limit = check.max ?? check.min!;
  const met = check.max !== undefined ? value <= check.max : value >= check.min!;
  const unit = check.against === 'absolute' ? ABSOLUTE_UNITS[check.metric] : `x ${check.against}`;
  const shown = (n: number) => (check.against === 'absolute' ? fmt(n) : n.toFixed(2));
  const text = `${METRIC_WORDS[check.metric]} ${shown(value)}${unit} (target ${check.max !== undefined ? '≤' : '≥'} ${shown(limit)}${unit})`;
  return { text, value, limit, met };
}

/** Met when every check of every case is met; null when the scenario has no check. */
export function scenarioMet(cases: CaseResult[]): boolean | null {
  const checks = cases.flatMap((c) => c.checks);
  return checks.length === 0 ? null : checks.every((c) => c.met);
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return '-';
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

const ratio = (n: number | undefined) => (n === undefined ? '' : `${n.toFixed(2)}x`);

/** The scenario's table, as printed by `npm run bench`. */
export function formatScenario(result: ScenarioResult): string {
  const lines = [`${result.number}. ${result.title}`, `   target: ${result.target}`];
  for (const c of result.cases) {
    lines.push('', `   ${c.name}: concurrency ${c.concurrency}, ${c.rounds} rounds x ${c.opsPerRound} ops`);
    const header = ['contender', 'p50 µs', 'p99 µs', 'CPU µs/op', 'ops/s', 'trips/op', 'p50/drv', 'p99/drv', 'CPU/drv', 'p50/plain', 'CPU/plain'];
    const rows = c.contenders.map((r) => [
      r.name,
      fmt(r.p50Us),
      fmt(r.p99Us),
      fmt(r.cpuUsPerOp),
      fmt(r.opsPerSec),
      r.roundTripsPerOp.toFixed(2),
      ratio(r.vsDriver?.p50),
      ratio(r.vsDriver?.p99),
      ratio(r.vsDriver?.cpu),
      ratio(r.vsPlain?.p50),
      ratio(r.vsPlain?.cpu),
    ]);
    const widths = header.map((h, k) => Math.max(h.length, ...rows.map((row) => row[k]!.length)));
    const line = (cells: string[]) => `   ${cells.map((cell, k) => (k === 0 ? cell.padEnd(widths[k]!) : cell.padStart(widths[k]!))).join('  ')}`;
    lines.push(line(header), ...rows.map(line));
    for (const check of c.checks) lines.push(`   ${check.met ? 'met   ' : 'MISSED'} ${check.text}`);
  }
  lines.push(`   => ${result.met === null ? 'no target stated' : result.met ? 'target met' : 'target missed'}`);
  return lines.join('\n');
}
