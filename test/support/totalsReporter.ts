import type { Reporter, TestModule } from 'vitest/node';

/** Ends the run with every skipped test and its reason, then the totals line CI reads. */
export default class TotalsReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>) {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    const skipped: string[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') counts.passed++;
        else if (result.state === 'failed') counts.failed++;
        else {
          counts.skipped++;
          skipped.push(`  - ${test.fullName}: ${(result.state === 'skipped' && result.note) || 'skipped'}`);
        }
      }
      if (module.state() === 'failed' && module.children.size === 0) counts.failed++;
    }
    if (skipped.length) console.log(`\nSkipped tests and why:\n${skipped.join('\n')}`);
    console.log(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  }
}
