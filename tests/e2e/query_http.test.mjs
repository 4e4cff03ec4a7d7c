// POST /v1/query on the real binary: the read token, read-only SQL over the
// lake views and the warehouse, JSON and CSV out, the row limit, the timeout
// (504), clear 400s naming the field, and the metrics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeTempDir, cleanupTempDirs, haveSluice, sluiceBin, runSluice, startServer } from './lib/server.mjs';

const TOKEN = 'read-secret';
let srv;

async function sluice(args) {
  const r = await runSluice(args);
  assert.equal(r.code, 0, `sluice ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return r;
}

function query(body, headers = {}) {
  return fetch(`${srv.url}/v1/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

before(async () => {
  assert.ok(haveSluice(), `sluice binary not found at ${sluiceBin()}`);
  const root = makeTempDir('sluice-query-');
  const dataDir = path.join(root, 'data');
  const lines = [];
  for (let i = 0; i < 120; i++) {
    lines.push({ type: 'track', event: i % 4 ? 'Product Viewed' : 'Order Completed', userId: `u${i % 6}`, messageId: `q-${i}`,
                 timestamp: new Date(Date.UTC(2024, 2, 5, 10, 0, 0) + i * 20000).toISOString(), properties: { revenue: i % 4 ? undefined : 10 } });
  }
  writeFileSync(path.join(root, 'events.ndjson'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  await sluice(['import', path.join(root, 'events.ndjson'), '--data-dir', dataDir]);
  await sluice(['lake', 'flush', '--data-dir', dataDir]);
  await sluice(['etl', 'run', '--hour', '2024-03-05T10', '--data-dir', dataDir]);
  const config = path.join(root, 'sluice.yml');
  writeFileSync(config, `http:\n  read_token: ${TOKEN}\nwarehouse:\n  enabled: false\nquery:\n  timeout: 1s\n  max_rows: 50\n`);
  srv = await startServer({ dataDir, args: ['--config', config] });
});

after(async () => {
  if (srv) await srv.stop();
  cleanupTempDirs();
});

test('without the read token the query is refused (401)', async () => {
  const r = await fetch(`${srv.url}/v1/query`, { method: 'POST', body: JSON.stringify({ sql: 'SELECT 1' }) });
  assert.equal(r.status, 401);
  assert.equal((await r.json()).code, 'Unauthenticated');
});

test('JSON out: the lake views and the warehouse tables', async () => {
  let r = await query({ sql: 'SELECT count(*) AS n, min("timestamp") AS first FROM lake.events' });
  assert.equal(r.status, 200);
  let body = await r.json();
  assert.deepEqual(body, { success: true, row_count: 1, truncated: false, rows: [{ n: 120, first: '2024-03-05 10:00:00+00' }] });
  r = await query({ sql: 'SELECT person_id, orders FROM user_profiles ORDER BY person_id', format: 'json' });
  body = await r.json();
  assert.equal(r.status, 200, JSON.stringify(body));
  assert.equal(body.row_count, 6);
  assert.deepEqual(body.rows[0], { person_id: 'u0', orders: 10 });
});

test('lake_versions reads a Delta version of a lake table (AS OF)', async () => {
  let r = await query({ sql: 'SELECT count(*) AS n FROM lake.events', lake_versions: { events: 0 } });
  assert.deepEqual((await r.json()).rows, [{ n: 0 }]);  // version 0: the table as created, empty
  r = await query({ sql: 'SELECT count(*) AS n FROM lake.events', lake_versions: { events: 1 } });
  assert.deepEqual((await r.json()).rows, [{ n: 120 }]);
  r = await query({ sql: 'SELECT 1', lake_versions: { events: 99 } });
  assert.equal(r.status, 400);
  r = await query({ sql: 'SELECT 1', lake_versions: { events: 'x' } });
  assert.match((await r.json()).error, /^lake_versions:/);
});

test('CSV out by Accept header or format, with the row limit', async () => {
  let r = await query({ sql: 'SELECT range AS i, \'a,b\' AS s FROM range(3)' }, { accept: 'text/csv' });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/csv/);
  assert.equal(await r.text(), 'i,s\n0,"a,b"\n1,"a,b"\n2,"a,b"\n');
  r = await query({ sql: 'SELECT range AS i FROM range(10)', format: 'csv', limit: 4 });
  assert.equal(r.headers.get('x-sluice-truncated'), 'true');
  assert.equal(await r.text(), 'i\n0\n1\n2\n3\n');
  // Without a limit the server's query.max_rows (50) applies.
  r = await query({ sql: 'SELECT range AS i FROM range(100)' });
  const body = await r.json();
  assert.equal(body.row_count, 50);
  assert.equal(body.truncated, true);
});

test('anything but one read-only statement, and bad bodies, are 400 naming the problem', async () => {
  for (const [req, pattern] of [
    [{ sql: 'DELETE FROM lake.events' }, /^SQL: /],
    [{ sql: 'COPY (SELECT 1) TO \'/tmp/x.csv\'' }, /read-only SELECT/],
    [{ sql: 'CREATE TABLE lake.x AS SELECT 1' }, /read-only SELECT/],
    [{ sql: 'SELECT 1; SELECT 2' }, /exactly one statement/],
    [{ sql: 'SELECT no_such_column FROM lake.events' }, /no_such_column/],
    [{ format: 'csv' }, /^sql: required/],
    [{ sql: 'SELECT 1', format: 'xml' }, /^format:/],
    [{ sql: 'SELECT 1', limit: 0 }, /^limit:/],
    [{ sql: 'SELECT 1', limit: 51 }, /^limit: at most 50/],
    [{ sql: 'SELECT 1', rows: 3 }, /^rows: unknown field/],
    ['not json', /^body:/],
  ]) {
    const r = await query(req);
    const body = await r.json();
    assert.equal(r.status, 400, `${JSON.stringify(req)} → ${JSON.stringify(body)}`);
    assert.equal(body.success, false);
    assert.match(body.error, pattern, JSON.stringify(req));
  }
});

test('a query past query.timeout is interrupted: 504, and the server keeps serving', async () => {
  const started = Date.now();
  const r = await query({ sql: 'SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000) b' });
  const body = await r.json();
  assert.equal(r.status, 504, JSON.stringify(body));
  assert.equal(body.code, 'DeadlineExceeded');
  assert.ok(Date.now() - started < 30000, 'the interrupt stopped the query');
  const ok = await query({ sql: 'SELECT 42 AS x' });
  assert.deepEqual((await ok.json()).rows, [{ x: 42 }]);
});

test('requests, errors and durations are in the metrics', async () => {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  for (const result of ['ok', 'bad_request', 'unauthorized', 'timeout']) {
    assert.match(text, new RegExp(`sluice_query_requests_total\\{result="${result}"\\} [1-9]`), result);
  }
  assert.match(text, /sluice_query_duration_seconds_count [1-9]/);
});
