import { afterAll, type TestContext } from 'vitest';
import { ConflictError, DuplicateKeyError } from '../../src/index.js';
import { needs, server } from '../support/db.js';

/** One line of the reliability table: what a part of the suite tried and what came of it. */
export interface Row {
  part: string;
  tried: number;
  succeeded: number;
  expectedErrors: number;
  unexpectedErrors: number;
  lostOrHalfWritten: number;
}

/**
 * The rows of one test file, printed as a table when the file ends (the README's table is these rows). Each
 * outcome is counted from what the operations really returned, never from what the test expects.
 */
export function reliabilityTable(file: string) {
  const rows: Row[] = [];
  afterAll(() => {
    if (rows.length === 0) return;
    const head = ['part', 'tried', 'succeeded', 'expected errors', 'unexpected errors', 'lost or half-written'];
    const lines = rows.map((r) => [r.part, r.tried, r.succeeded, r.expectedErrors, r.unexpectedErrors, r.lostOrHalfWritten].map(String));
    const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    const format = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
    console.log([`Reliability: ${file} on ${server.description}`, format(head), format(widths.map((w) => '-'.repeat(w))), ...lines.map(format)].join('\n'));
  });
  return {
    rows,
    /** Counts settled operations: fulfilled ones succeed, rejections that `expected` accepts are expected errors. */
    count(part: string, settled: PromiseSettledResult<unknown>[], expected: (error: unknown) => boolean, lostOrHalfWritten = 0): Row {
      const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
      const row = {
        part,
        tried: settled.length,
        succeeded: settled.length - failed.length,
        expectedErrors: failed.filter((f) => expected(f.reason)).length,
        unexpectedErrors: failed.filter((f) => !expected(f.reason)).length,
        lostOrHalfWritten,
      };
      rows.push(row);
      return row;
    },
  };
}

export const isConflict = (error: unknown) => error instanceof ConflictError;
export const isDuplicate = (error: unknown) => error instanceof DuplicateKeyError;

/** Skips a test of concurrent writes where the server loses concurrent updates of one document. */
export function needsAtomicUpdates(test: TestContext) {
  needs(test, 'atomicUpdates', 'concurrent writes of one document must all be kept for a race to mean anything');
}
export { needs };
