// The packed tarball, as a consumer gets it: lint it, check its typings resolve in every module system, and use it
// from a fresh app with its own mongoose through `require` and through `import`. Needs `npm run build` first
// (the test command does it).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { server } from '../support/db.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'data-models-package-'));
let tarball = '';
let packed: string[] = [];

beforeAll(async () => {
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root });
  const [pack] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(work, pack!.filename);
  packed = pack!.files.map((f) => f.path);
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the packed package', () => {
  it('ships the embedded servers\' recipes (FerretDB sources, SecantusDB requirements), never SecantusDB itself', () => {
    expect(packed).toEqual(expect.arrayContaining(['ferretdb/go.mod', 'ferretdb/go.sum', 'ferretdb/main.go', 'secantusdb/requirements.txt']));
    expect(packed.filter((path) => /secantus/i.test(path))).toEqual(['secantusdb/requirements.txt']);
  });

  it('publint finds no problem in the tarball', async () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const { messages } = await publint({ level: 'suggestion', strict: true, pack: { tarball: new Uint8Array(readFileSync(tarball)).buffer } });
    expect(messages.map((m) => formatMessage(m, pkg))).toEqual([]);
  });

  it('are-the-types-wrong finds no problem for either entry in any resolution mode', async () => {
    const attw = join(root, 'node_modules', '.bin', 'attw');
    const result = await run(attw, [tarball, '--format', 'json'], { cwd: root }).catch((e: { stdout: string }) => e);
    const report = JSON.parse(result.stdout) as { analysis: { problems: unknown[]; entrypoints: Record<string, unknown> } };
    expect(Object.keys(report.analysis.entrypoints).sort()).toEqual(['.', './contracts', './package.json']);
    expect(report.analysis.problems).toEqual([]);
  });

  describe('in a consumer app with its own mongoose', () => {
    const app = join(work, 'app');
    beforeAll(async () => {
      const mongooseVersion = JSON.parse(readFileSync(join(root, 'node_modules', 'mongoose', 'package.json'), 'utf8')).version;
      await run('mkdir', ['-p', app]);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
      await run('npm', ['install', tarball, `mongoose@${mongooseVersion}`, '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts'], {
        cwd: app,
      });
    }, 300_000);

    const script = (load: string) => `${load}
const conn = await mongoose.createConnection(process.env.URI, { dbName: process.env.DB }).asPromise();
try {
  const models = makeModels(conn);
  const ws = await models.Workspace.create({ _id: 'ws_1', name: 'Acme' });
  let duplicate = null;
  await models.Workspace.create({ _id: 'ws_1', name: 'Acme' }).catch((e) => (duplicate = e instanceof DuplicateKeyError && e.message));
  console.log(JSON.stringify({
    code: ws.code,
    oneMongoose: models.Workspace.prototype instanceof mongoose.Model && ws instanceof mongoose.Model,
    duplicate,
    streamTypes: contracts.STREAM_TYPES,
    sameEnums: contracts.STREAM_TYPES === STREAM_TYPES,
  }));
} finally {
  await conn.dropDatabase();
  await conn.close();
}`;

    const expected = {
      code: 'acme',
      oneMongoose: true,
      duplicate: 'Workspace: _id "ws_1" already exists',
      streamTypes: ['source', 'sink', 'dlq', 'replay'],
    };

    it('works through require (CommonJS)', async () => {
      const body = script(`const mongoose = require('mongoose');
const { makeModels, DuplicateKeyError, STREAM_TYPES } = require('@event-streaming-platform/data-models');
const contracts = require('@event-streaming-platform/data-models/contracts');`);
      writeFileSync(join(app, 'consumer.cjs'), `(async () => {\n${body}\n})().catch((e) => { console.error(e); process.exit(1); });`);
      const { stdout } = await run('node', ['consumer.cjs'], { cwd: app, env: { ...process.env, URI: server.uri, DB: `consumer_cjs_${process.pid}` } });
      expect(JSON.parse(stdout)).toMatchObject(expected);
    });

    it('works through import (ESM)', async () => {
      writeFileSync(
        join(app, 'consumer.mjs'),
        script(`import mongoose from 'mongoose';
import { makeModels, DuplicateKeyError, STREAM_TYPES } from '@event-streaming-platform/data-models';
import * as contracts from '@event-streaming-platform/data-models/contracts';`),
      );
      const { stdout } = await run('node', ['consumer.mjs'], { cwd: app, env: { ...process.env, URI: server.uri, DB: `consumer_esm_${process.pid}` } });
      expect(JSON.parse(stdout)).toMatchObject(expected);
    });
  });
});
