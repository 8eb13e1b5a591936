import { defineConfig, type TestProjectInlineConfiguration, type ViteUserConfig } from 'vitest/config';
import { embeddedServers } from './src/mongoServer.js';

// Unit, type and package tests run once; the integration tests run once per server: MONGODB_URI alone when it is
// set, else every embedded server this machine has the tools for (test/support/globalSetup.ts starts each; the
// project's name is the server's kind, so every test line and every skip says which server it ran on).
// In each project, not at the root: a root globalSetup runs even when a filter leaves the root out, starting a server
// no test uses.
const globalSetup = ['test/support/globalSetup.ts'];

export default defineConfig(async (): Promise<ViteUserConfig> => {
  const servers = process.env.MONGODB_URI ? ['MONGODB_URI'] : (await embeddedServers()).kinds;
  const integration = servers.map(
    (name): TestProjectInlineConfiguration => ({ extends: true, test: { name, include: ['test/integration/**/*.test.ts', 'test/reliability/**/*.test.ts'], globalSetup } }),
  );
  return {
    test: {
      reporters: ['default', './test/support/totalsReporter.ts'],
      testTimeout: 30_000,
      hookTimeout: 60_000,
      // Two cores: two test files at a time, each with its own database on its project's server.
      maxWorkers: 2,
      projects: [
        {
          extends: true,
          test: {
            name: 'unit',
            globalSetup,
            include: ['test/unit/**/*.test.ts', 'test/package/**/*.test.ts'],
            typecheck: { enabled: true, include: ['test/types/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
          },
        },
        ...integration,
      ],
    },
  };
});
