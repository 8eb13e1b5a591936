import type { Reporter, TestModule } from 'vitest/node';

/** Ends the run with every skipped test and its reason, per server (project), then the totals line CI reads. */
export default class TotalsReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>) {
    // An error outside any test (a type error in the config, a crash in a hook) fails the run too.
    const counts = { passed: 0, failed: unhandledErrors.length, skipped: 0 };
    const skipped = new Map<string, string[]>();
    for (const module of testModules) {
      const project = module.project.name;
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') counts.passed++;
        else if (result.state === 'failed') counts.failed++;
        else {
          counts.skipped++;
          const list = skipped.get(project) ?? [];
          list.push(`  - ${test.fullName}: ${(result.state === 'skipped' && result.note) || 'skipped'}`);
          skipped.set(project, list);
        }
      }
      if (module.state() === 'failed' && module.children.size === 0) counts.failed++;
    }
    for (const [project, list] of skipped) console.log(`\nSkipped on ${project}, and why:\n${list.join('\n')}`);
    console.log(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  }
}
