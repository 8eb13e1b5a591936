// Prints the README's benchmark table from a `npm run bench -- --json <file>` result:
// node --import tsx bench/table.ts <file>
import { readFileSync } from 'node:fs';

interface Ratios {
  p50: number;
  p99: number;
  cpu: number;
}
interface Result {
  date: string;
  rounds: number;
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; platform: string; loadAverageAtStart: number; loadAverageAtEnd: number };
  server: { description: string };
  mongoose: string;
  scenarios: Array<{
    number: number;
    id: string;
    cases: Array<{
      name: string;
      contenders: Array<{ name: string; role: string; p50Us: number; cpuUsPerOp: number; opsPerSec: number; vsDriver?: Ratios; vsPlain?: Ratios }>;
      checks: Array<{ text: string; met: boolean }>;
    }>;
  }>;
}

const file = process.argv[2];
if (!file) throw new Error('usage: node --import tsx bench/table.ts <bench json>');
const result = JSON.parse(readFileSync(file, 'utf8')) as Result;
const x = (ratio: number | undefined) => (ratio === undefined ? '' : `${ratio.toFixed(2)}x`);
const n = (value: number) => Math.round(value).toLocaleString('en-US');

const { machine } = result;
console.log(
  `${result.date.slice(0, 10)}, ${result.server.description}, ${machine.cores} x ${machine.cpu}, ${machine.memoryGiB} GiB, ${machine.platform}, ` +
    `Node ${machine.node}, mongoose ${result.mongoose}; load average ${machine.loadAverageAtStart} at the start, ` +
    `${machine.loadAverageAtEnd} at the end; ${result.rounds} rounds per case. Ratios are the package's to the raw driver's (and to plain mongoose's).\n`,
);
console.log('| scenario | case | package p50 | p50 / driver | p99 / driver | CPU per op | CPU / driver | CPU / plain | ops/s | target |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---|');
for (const scenario of result.scenarios) {
  for (const c of scenario.cases) {
    const ours = c.contenders.find((contender) => contender.role === 'package');
    if (!ours) continue;
    const verdict = c.checks.map((check) => `${check.met ? 'met' : '**missed**'}: ${check.text}`).join('; ');
    console.log(
      `| ${scenario.number}. ${scenario.id} | ${c.name} | ${n(ours.p50Us)} µs | ${x(ours.vsDriver?.p50)} | ${x(ours.vsDriver?.p99)} | ` +
        `${n(ours.cpuUsPerOp)} µs | ${x(ours.vsDriver?.cpu)} | ${x(ours.vsPlain?.cpu)} | ${n(ours.opsPerSec)} | ${verdict} |`,
    );
  }
}
