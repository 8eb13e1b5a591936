// `npm run bench` in its smoke mode, against the run's server: every scenario runs and the JSON keeps its shape,
// so the benchmark cannot rot between the times someone measures with it. Nothing here asserts a timing.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { CaseResult, ContenderResult, ScenarioResult } from '../../bench/harness.js';
import { server } from '../support/db.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const scratch = mkdtempSync(join(tmpdir(), 'data-models-bench-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function bench(...args: string[]) {
  return run(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], {
    cwd: root,
    env: { ...process.env, MONGODB_URI: server.uri },
    maxBuffer: 16 * 1024 * 1024,
  });
}

interface Report {
  version: number;
  quick: boolean;
  date: string;
  mongoose: string;
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; platform: string };
  server: { description: string; kind: string };
  scenarios: ScenarioResult[];
}

function expectContender(c: ContenderResult, caseResult: CaseResult) {
  expect(c.samples).toBe(caseResult.rounds * caseResult.opsPerRound);
  for (const figure of [c.p50Us, c.p99Us, c.opsPerSec]) expect(figure).toBeGreaterThan(0);
  expect(c.p99Us).toBeGreaterThanOrEqual(c.p50Us);
  expect(c.cpuUsPerOp).toBeGreaterThanOrEqual(0);
  expect(c.roundTripsPerOp).toBeGreaterThanOrEqual(0);
  if (c.role !== 'driver') expect(Object.keys(c.vsDriver ?? {}).sort()).toEqual(['cpu', 'opsPerSec', 'p50', 'p99']);
  if (c.role === 'package') expect(c.vsPlain?.p50).toBeGreaterThan(0);
}

describe('npm run bench', () => {
  it('--quick --json runs all seven scenarios and writes every figure, ratio and target verdict', async () => {
    const file = join(scratch, 'bench.json');
    const { stdout } = await bench('--quick', '--json', file);
    const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
    expect(report).toMatchObject({ version: 1, quick: true, server: { description: expect.stringContaining('MONGODB_URI') } });
    expect(report.scenarios.map((s) => s.number)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // What README's table names: the machine, the server and the date (also the first line printed).
    expect(report.machine).toMatchObject({ cpu: expect.any(String), cores: expect.any(Number), memoryGiB: expect.any(Number), node: process.version });
    expect(new Date(report.date).toISOString()).toBe(report.date);
    expect(stdout.split('\n')[0]).toContain(report.date);
    expect(report.mongoose).toMatch(/^\d+\.\d+\.\d+/);
    for (const scenario of report.scenarios) {
      expect(scenario.target).not.toBe('');
      expect(scenario.cases.length).toBeGreaterThan(0);
      for (const c of scenario.cases) {
        expect(c.contenders.map((r) => r.role)).toEqual(expect.arrayContaining(['driver', 'plain', 'package']));
        for (const contender of c.contenders) expectContender(contender, c);
        for (const check of c.checks) expect(check).toEqual({ text: expect.any(String), value: expect.any(Number), limit: expect.any(Number), met: expect.any(Boolean) });
      }
      expect([true, false, null]).toContain(scenario.met);
      expect(stdout).toContain(`${scenario.number}. ${scenario.title}`);
    }
    expect(stdout).toMatch(/p50 µs +p99 µs +CPU µs\/op +ops\/s/);
    expect(stdout).toMatch(/^ {3}=> target (met|missed)$/m);
  }, 240_000);

  it('--only with --cpu-prof writes a profile per contender and prints where the self time goes', async () => {
    const dir = join(scratch, 'profiles');
    const { stdout } = await bench('--quick', '--only', 'make-models', '--cpu-prof', '--cpu-prof-dir', dir);
    expect(stdout).toContain('7. makeModels');
    expect(stdout).not.toContain('1. Session check');
    const files = readdirSync(dir);
    expect(files).toHaveLength(3);
    expect(stdout).toMatch(/profile .* ms sampled\n +by origin: /);
    const { stdout: summary } = await bench('--summarise', join(dir, files[0]!));
    expect(summary).toMatch(/by origin: /);
  }, 120_000);

  it('an unknown scenario is an error that lists the scenarios', async () => {
    const error = await bench('--only', 'nope').catch((e: { code: number; stderr: string }) => e);
    expect(error).toMatchObject({ code: 2, stderr: expect.stringMatching(/Unknown scenario nope[\s\S]*1 session-check/) });
  });
});
