// End to end: events imported into a data directory, committed to the lake,
// then `sluice etl run|backfill|history`, `sluice query` and `sluice lineage
// show` on the real binary — exit codes (0 built, 1 a model failed, 2 usage,
// 4 nothing to do), the warehouse read by an outside DuckDB, and every
// lineage line validated by ajv against OpenLineage's schema.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import { DuckDBInstance } from '@duckdb/node-api';
import { makeTempDir, cleanupTempDirs, haveSluice, sluiceBin, runSluice, repoRoot } from './lib/server.mjs';

const HOUR = '2024-03-05T10';
let root;
let dataDir;

async function sluice(args, expectCode = 0) {
  const r = await runSluice(args);
  assert.equal(r.code, expectCode, `sluice ${args.join(' ')} → ${r.code}\n${r.stderr}\n${r.stdout}`);
  return r;
}

before(async () => {
  assert.ok(haveSluice(), `sluice binary not found at ${sluiceBin()}; build it first (or set SLUICE_BIN)`);
  root = makeTempDir('sluice-warehouse-');
  dataDir = path.join(root, 'data');
  const lines = [];
  for (let i = 0; i < 120; i++) {
    const user = `user-${i % 6}`;
    const minute = (i * 3) % 60;
    const timestamp = `2024-03-05T10:${String(minute).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}Z`;
    if (i % 30 === 0) {
      lines.push({ type: 'identify', userId: user, messageId: `wh-${i}`, timestamp, traits: { email: `${user}@example.com`, seen: i } });
    } else {
      lines.push({ type: 'track', userId: user, messageId: `wh-${i}`, timestamp, event: i % 4 ? 'Product Viewed' : 'Order Completed',
                   properties: { i, revenue: i % 4 ? undefined : i * 2 } });
    }
  }
  // Hour 11 for the backfill.
  lines.push({ type: 'track', userId: 'user-0', messageId: 'wh-later', timestamp: '2024-03-05T11:30:00Z', event: 'Product Viewed', properties: { i: 999 } });
  const file = path.join(root, 'events.ndjson');
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  await sluice(['import', file, '--data-dir', dataDir]);
  await sluice(['lake', 'flush', '--data-dir', dataDir]);
});

after(() => cleanupTempDirs());

test('etl run builds the shipped models; a rerun has nothing to do (exit 4)', async () => {
  const first = await sluice(['etl', 'run', '--hour', HOUR, '--data-dir', dataDir]);
  for (const model of ['stg_events', 'sessions', 'user_daily_activity', 'user_profiles', 'segment_inputs']) {
    assert.match(first.stdout, new RegExp(`^${model}\\s.*success`, 'm'), first.stdout);
  }
  assert.match(first.stdout, /^stg_events\s+2024-03-05T10\s+success\s+120\s/m);
  const again = await sluice(['etl', 'run', '--hour', HOUR, '--data-dir', dataDir], 4);
  assert.match(again.stdout, /stg_events\s+2024-03-05T10\s+unchanged/);
  await sluice(['etl', 'run', 'stg_events', '--hour', HOUR, '--force', '--data-dir', dataDir]);
});

test('sluice query reads the warehouse and the lake, read-only, as CSV or JSON', async () => {
  const csv = await sluice(['query', 'SELECT person_id, events FROM user_profiles ORDER BY person_id', '--data-dir', dataDir]);
  const rows = csv.stdout.trim().split('\n');
  assert.equal(rows[0], 'person_id,events');
  assert.equal(rows.length, 7);
  const json = await sluice(['query', 'SELECT count(*) AS n FROM lake.events', '--format', 'json', '--data-dir', dataDir]);
  assert.deepEqual(JSON.parse(json.stdout), { n: 121 });
  const denied = await sluice(['query', 'DROP TABLE user_profiles', '--data-dir', dataDir], 2);
  assert.match(denied.stderr, /read-only/);
  await sluice(['query', 'SELECT FROM WHERE', '--data-dir', dataDir], 2);
  // Time travel: version 0 of the events table is the empty table as created.
  const asOf = await sluice(['query', 'SELECT count(*) AS n FROM lake.events', '--lake-version', 'events=0', '--data-dir', dataDir]);
  assert.equal(asOf.stdout, 'n\n0\n');
  await sluice(['query', 'SELECT 1', '--lake-version', 'events=99', '--data-dir', dataDir], 2);
});

test('backfill shows progress on stderr and builds each hour', async () => {
  const r = await sluice(['etl', 'backfill', '--from', '2024-03-05T10', '--to', '2024-03-05T11', '--force', '--data-dir', dataDir]);
  assert.match(r.stderr, /1\/2 hours 2024-03-05T11/);
  assert.match(r.stderr, /2\/2 hours done/);
  assert.match(r.stdout, /^stg_events\s+2024-03-05T11\s+success\s+1\s/m);
  const history = await sluice(['etl', 'history', '--model', 'stg_events', '--data-dir', dataDir]);
  assert.ok(history.stdout.split('\n').filter((l) => /stg_events/.test(l)).length >= 4, history.stdout);
});

test('a failing model exits 1 and is in the history with its error', async () => {
  const models = path.join(root, 'models');
  mkdirSync(models, { recursive: true });
  writeFileSync(path.join(models, 'bad.sql'), '-- materialized: table\nSELECT missing_column FROM {{ source(\'lake\', \'events\') }}\n');
  const r = await sluice(['etl', 'run', '--models', models, '--data-dir', dataDir], 1);
  assert.match(r.stdout, /^bad\s+-\s+failed/m);
  const history = await sluice(['etl', 'history', '--model', 'bad', '--models', models, '--data-dir', dataDir]);
  assert.match(history.stdout, /failed .*missing_column/);
  await sluice(['etl', 'run', '--hour', 'yesterday', '--data-dir', dataDir], 2);
  await sluice(['etl', 'run', 'no_such_model', '--data-dir', dataDir], 2);
});

test('every lineage event validates against OpenLineage; lineage show walks the graph', async () => {
  const schema = JSON.parse(readFileSync(path.join(repoRoot, 'tests/lineage/OpenLineage.json'), 'utf8'));
  const ajv = new Ajv2020({ strict: false, validateFormats: false });
  const validate = ajv.compile(schema);
  const dir = path.join(dataDir, 'lineage');
  let n = 0;
  const lakeRuns = [];
  for (const f of readdirSync(dir)) {
    for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean)) {
      const ev = JSON.parse(line);
      assert.ok(validate(ev), `${line}\n${JSON.stringify(validate.errors)}`);
      if (ev.job.name === 'lake.write') lakeRuns.push(ev);
      n++;
    }
  }
  assert.ok(n >= 10, `only ${n} lineage events`);
  // The lake commit: START then COMPLETE, the log's offset range in, the
  // Delta table with its version, rows, schema and the gate's counts out.
  assert.deepEqual(lakeRuns.map((e) => e.eventType), ['START', 'COMPLETE']);
  const done = lakeRuns[1];
  assert.equal(done.run.runId, lakeRuns[0].run.runId);
  assert.equal(done.inputs[0].name, 'log');
  assert.equal(done.inputs[0].inputFacets.sluice_logOffsets.from, 0);
  const events = done.outputs.find((o) => o.name === 'events');
  assert.equal(events.facets.version.datasetVersion, '1');
  assert.ok(events.outputFacets.outputStatistics.rowCount > 0);
  assert.ok(events.facets.schema.fields.some((f) => f.name === 'message_id'));
  assert.equal(events.outputFacets.sluice_quality.acceptedRows, events.outputFacets.outputStatistics.rowCount);
  const lakeShow = await sluice(['lineage', 'show', 'events', '--data-dir', dataDir]);
  assert.match(lakeShow.stdout, /lake\.write .*<- log/);
  assert.match(lakeShow.stdout, /warehouse\.stg_events .*read v1/);
  const show = await sluice(['lineage', 'show', 'stg_events', '--data-dir', dataDir]);
  assert.match(show.stdout, /warehouse\.stg_events .*<- events v1/);
  assert.match(show.stdout, /warehouse\.sessions/);
  await sluice(['lineage', 'show', 'nothing_here', '--data-dir', dataDir], 3);
});

// Last: DuckDB keeps its file lock in this process until the instance is collected.
test('an outside DuckDB reads the warehouse file', async () => {
  const instance = await DuckDBInstance.create(path.join(dataDir, 'warehouse.duckdb'), { access_mode: 'READ_ONLY' });
  const conn = await instance.connect();
  const reader = await conn.runAndReadAll('SELECT sum(events)::INTEGER AS n, count(*)::INTEGER AS people FROM user_profiles');
  assert.deepEqual(reader.getRowObjects(), [{ n: 121, people: 6 }]);  // hour 10 and, after the backfill, hour 11
  const sessions = await conn.runAndReadAll('SELECT count(*)::INTEGER AS n FROM sessions');
  assert.ok(sessions.getRowObjects()[0].n >= 6);
  conn.closeSync();
  instance.closeSync();
});
