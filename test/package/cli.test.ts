// The built command line (`npm run build` first; the test command does it).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { server } from '../support/db.js';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

describe('data-models command line', () => {
  it('demo runs end to end against the given server and prints every entity, secrets hidden', async () => {
    const { stdout } = await run(process.execPath, [cli, 'demo', '--uri', server.uri], { env: { ...process.env, MONGODB_URI: '' } });
    for (const line of [/^Workspace +ws_1 +"Acme" +code=acme/m, /^Client +cl_\w+ .*authenticate\(secret\) -> ok/m, /^Connection +cn_\w+/m, /^Pipeline +pl_\w+ .*status=active/m, /^User +usr_\w+ .*workspace \(populated\)="Acme"/m, /^Session +[0-9a-f-]{36} .*live=yes/m]) {
      expect(stdout).toMatch(line);
    }
    expect(stdout).not.toMatch(/secretHash|demo-token|demo-client-secret/);
  });

  it('with no server to be had, fails with one message naming every way tried and how to fix it', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'data-models-noserver-'));
    try {
      const error = await run(process.execPath, [cli, 'demo'], {
        env: { PATH: cache, HOME: cache, DATA_MODELS_CACHE_DIR: cache, MONGOMS_DOWNLOAD_URL: 'http://127.0.0.1:9/none.tgz' },
      }).catch((e: { code: number; stderr: string }) => e);
      expect('code' in error && error.code).toBe(1);
      const { stderr } = error as { stderr: string };
      expect(stderr).toMatch(/No MongoDB server could be had/);
      expect(stderr).toMatch(/mongod through mongodb-memory-server-core: .*download failed/);
      expect(stderr).toMatch(/SecantusDB 0\.7\.0b3 in a Python venv: `python3` is not on PATH/);
      expect(stderr).toMatch(/FerretDB v1\.24\.2 built with Go: the Go toolchain \(`go`\) is not on PATH/);
      expect(stderr).toMatch(/Python 3\.10\+ with its venv module/);
      expect(stderr).toMatch(/MONGODB_URI=/);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('--help lists the commands; an unknown command is an error', async () => {
    expect((await run(process.execPath, [cli, '--help'])).stdout).toMatch(/demo[\s\S]*sync-indexes/);
    const error = await run(process.execPath, [cli, 'frobnicate']).catch((e: { code: number; stderr: string }) => e);
    expect(error).toMatchObject({ code: 2, stderr: expect.stringMatching(/Unknown command "frobnicate"/) });
  });
});
