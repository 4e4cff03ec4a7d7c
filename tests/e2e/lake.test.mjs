// End to end: events sent with @segment/analytics-node land in the lake's
// Parquet files exactly once, and two independent readers — DuckDB and
// hyparquet (with hyparquet-compressors for zstd) — read them back field for
// field as the SDK sent them. Quarantined events land in their own table with
// every reason and the original JSON. The lake CLI lists versions and files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Analytics } from '@segment/analytics-node';
import {
  startServer, makeTempDir, cleanupTempDirs, basicAuth, isoMicros, haveSluice, sluiceBin, runSluice, sleep,
} from './lib/server.mjs';
import { deltaSnapshot, lakeTable, readWithDuckDB, readWithHyparquet } from './lib/lake.mjs';

const WRITE_KEY = 'WK_e2e_lake';
const RUN = Date.now().toString(36);
const N = 300;
const TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'];
const TRICKY = 'café "q" \\ 🎉 日本';

let dataDir;
let srv;
const wire = new Map();  // messageId → { event, sentAt }
const quarantinedIds = [];

function call(i) {
  const type = TYPES[i % TYPES.length];
  const args = { messageId: `lake-${RUN}-${i}`, userId: `user-${i % 11}`, timestamp: new Date(Date.UTC(2024, 4, 1, 12) + i * 1234) };
  if (i % 4 === 0) args.anonymousId = `anon-${i}`;
  args.context = { ip: '203.0.113.9', page: { path: `/p/${i}`, title: TRICKY } };
  const props = { i, price: i * 1.25, label: TRICKY, tags: ['a', 1, null], nested: { deep: { x: i } } };
  switch (type) {
    case 'track': Object.assign(args, { event: `Order ${i % 3}`, properties: props }); break;
    case 'identify': Object.assign(args, { traits: { email: `u${i}@example.com`, plan: i % 2 ? 'pro' : 'free' } }); break;
    case 'page': case 'screen': Object.assign(args, { name: `Page ${TRICKY} ${i}`, properties: props }); break;
    case 'group': Object.assign(args, { groupId: `g-${i % 5}`, traits: { name: 'Acme' } }); break;
    case 'alias': args.previousId = `prev-${i}`; delete args.anonymousId; break;
  }
  return { type, args };
}

before(async () => {
  assert.ok(haveSluice(), `sluice binary not found at ${sluiceBin()}; build it first (or set SLUICE_BIN)`);
  dataDir = makeTempDir('sluice-lake-');
  const config = path.join(dataDir, 'sluice.yaml');
  writeFileSync(config, 'lake:\n  max_file_age: 1s\n');
  srv = await startServer({ dataDir: path.join(dataDir, 'data'), writeKeys: [WRITE_KEY], args: ['--config', config] });
});

after(async () => {
  if (srv && srv.running()) await srv.kill();
  cleanupTempDirs();
});

test('the SDK sends events and a few quarantined ones', { timeout: 60000 }, async () => {
  const client = new Analytics({ writeKey: WRITE_KEY, host: srv.url, path: '/v1/batch', maxEventsInBatch: 25, flushInterval: 100 });
  client.on('http_request', (req) => {
    const body = JSON.parse(req.body);
    for (const e of body.batch) wire.set(e.messageId, { event: e, sentAt: e.sentAt ?? body.sentAt });
  });
  const errors = [];
  client.on('error', (e) => errors.push(e));
  for (let i = 0; i < N; i++) {
    const { type, args } = call(i);
    client[type](args);
  }
  await client.closeAndFlush({ timeout: 30000 });
  assert.deepEqual(errors, []);
  assert.equal(wire.size, N);

  for (let i = 0; i < 3; i++) {
    const messageId = `lake-bad-${RUN}-${i}`;
    quarantinedIds.push(messageId);
    const res = await fetch(`${srv.url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basicAuth(WRITE_KEY) },
      body: JSON.stringify({ batch: [{ type: 'track', event: 'No Identity', messageId, properties: { i } }] }),
    });
    assert.equal(res.status, 200);
  }
});

test('the lake commits them within the file-age bound while the server runs', { timeout: 30000 }, async () => {
  const root = lakeTable(srv.dataDir, 'events');
  let rows = 0;
  for (let waited = 0; waited < 20000; waited += 200) {
    rows = [...deltaSnapshot(root).files.values()].reduce((n, a) => n + JSON.parse(a.stats).numRecords, 0);
    if (rows >= N) break;
    await sleep(200);
  }
  assert.equal(rows, N, 'every event committed (max_file_age: 1s)');
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.stderr());
});

test('DuckDB and hyparquet read every event once, field for field', { timeout: 60000 }, async () => {
  const d = srv.dataDir;
  const duck = await readWithDuckDB(d, 'events');
  const hyp = await readWithHyparquet(d, 'events');
  assert.equal(duck.length, N);
  assert.equal(hyp.length, N);
  assert.equal(new Set(duck.map((r) => r.message_id)).size, N, 'each messageId once');
  const snap = deltaSnapshot(lakeTable(d, 'events'));
  const lastOffset = Math.max(...duck.map((r) => Number(r.log_offset)));
  assert.ok(snap.txn.get('sluice-lake') >= lastOffset, 'the txn version covers every row');

  const json = (s) => (s === null || s === undefined ? undefined : JSON.parse(s));
  for (let k = 0; k < N; k++) {
    const r = duck[k];
    const h = hyp[k];
    const sent = wire.get(r.message_id);
    assert.ok(sent, `a row nobody sent: ${r.message_id}`);
    const e = sent.event;
    const where = `${r.message_id} (${e.type})`;
    assert.equal(r.type, e.type, where);
    assert.equal(r.event ?? undefined, e.event, where);
    assert.equal(r.user_id ?? undefined, e.userId, where);
    assert.equal(r.anonymous_id ?? undefined, e.anonymousId, where);
    assert.equal(r.name ?? undefined, e.name, where);
    assert.equal(r.group_id ?? undefined, e.groupId, where);
    assert.equal(r.previous_id ?? undefined, e.previousId, where);
    assert.deepEqual(json(r.properties), e.properties, where);
    assert.deepEqual(json(r.traits), e.traits, where);
    assert.deepEqual(json(r.context), e.context, where);
    assert.equal(r.source, WRITE_KEY);
    // Times: original as sent; timestamp corrected for clock skew.
    const original = isoMicros(e.timestamp);
    const sentAt = isoMicros(sent.sentAt);
    assert.equal(BigInt(r.original_timestamp_us), original, where);
    assert.equal(BigInt(r.sent_at_us), sentAt, where);
    assert.equal(BigInt(r.timestamp_us), BigInt(r.received_at_us) - (sentAt - original), where);
    const received = new Date(Number(BigInt(r.received_at_us) / 1000n));
    assert.equal(r.dt, received.toISOString().slice(0, 10), where);
    assert.equal(r.hour, received.toISOString().slice(11, 13), where);
    // hyparquet agrees with DuckDB on every column (Date has ms resolution).
    for (const col of ['message_id', 'type', 'event', 'user_id', 'anonymous_id', 'properties', 'traits', 'context',
      'source', 'name', 'group_id', 'previous_id', 'integrations', 'extra', 'dt', 'hour']) {
      assert.equal(h[col], r[col], `${where}: hyparquet ${col}`);
    }
    assert.equal(String(h.log_offset), String(r.log_offset), where);
    for (const col of ['timestamp', 'original_timestamp', 'sent_at', 'received_at']) {
      assert.ok(h[col] instanceof Date, `${where}: hyparquet ${col} is a timestamp`);
      assert.equal(BigInt(h[col].getTime()), BigInt(r[`${col}_us`]) / 1000n, `${where}: ${col}`);
    }
  }
});

test('quarantined events keep every reason and their original JSON', async () => {
  const rows = await readWithDuckDB(srv.dataDir, 'quarantine');
  assert.deepEqual(rows.map((r) => r.message_id), quarantinedIds);
  for (const r of rows) {
    const errors = JSON.parse(r.errors);
    assert.ok(Array.isArray(errors) && errors.length >= 1, r.errors);
    for (const e of errors) assert.deepEqual(Object.keys(e).sort(), ['message', 'path', 'rule']);
    assert.ok(errors.some((e) => e.rule === 'envelope.identity'), r.errors);
    assert.equal(JSON.parse(r.raw).messageId, r.message_id);
  }
  const hyp = await readWithHyparquet(srv.dataDir, 'quarantine');
  assert.deepEqual(hyp.map((r) => [r.message_id, r.errors, r.raw]), rows.map((r) => [r.message_id, r.errors, r.raw]));
});

test('lake history, files (time travel) and flush from the CLI', async () => {
  const d = srv.dataDir;
  let r = await runSluice(['lake', 'history', '--table', 'events', '--data-dir', d]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /CREATE TABLE/);
  assert.match(r.stdout, /WRITE/);
  r = await runSluice(['lake', 'files', '--table', 'events', '--version', '0', '--data-dir', d]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /version 0: 0 files, 0 rows/);
  r = await runSluice(['lake', 'files', '--table', 'events', '--data-dir', d]);
  assert.equal(r.code, 0, r.stderr);
  const listed = r.stdout.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split('\t')[0]);
  assert.deepEqual(listed.sort(), [...deltaSnapshot(lakeTable(d, 'events')).files.keys()].sort());
  r = await runSluice(['lake', 'files', '--table', 'nope', '--data-dir', d]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--table must be events or quarantine/);
  r = await runSluice(['lake', 'flush', '--data-dir', d]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /lake flush: 0 rows/, 'a clean stop already committed everything');
  r = await runSluice(['lake', 'compact', '--data-dir', d]);
  assert.equal(r.code, 0, r.stderr);
});
