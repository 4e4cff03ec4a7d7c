// End to end: the quality gate. A tracking plan with a few events; the
// Segment SDK (@segment/analytics-node) sends valid, invalid, unplanned,
// flagged and corrected events; the lake's `events` and `quarantine` tables
// hold exactly the right rows with the right reasons, flags and corrections.
// A bad plan is refused over HTTP while the old one stays; after the plan is
// fixed, `sluice quarantine replay` moves exactly the right rows, once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Analytics } from '@segment/analytics-node';
import { startServer, makeTempDir, cleanupTempDirs, haveSluice, sluiceBin, runSluice, sleep } from './lib/server.mjs';
import { deltaSnapshot, lakeTable, readWithDuckDB } from './lib/lake.mjs';

const WRITE_KEY = 'WK_e2e_quality';
const RUN = Date.now().toString(36);
const PLAN = `
unplanned_events: quarantine
events:
  - name: Order Completed
    schema: {type: object, properties: {order_id: {type: string}}, required: [order_id]}
    rules:
      - {path: properties.total, required: true, minimum: 0}
      - {path: properties.currency, trim: true, lowercase: true, enum: [usd, eur]}
      - {path: properties.coupon, max_length: 4, severity: flag}
  - type: identify
    rules:
      - {path: traits.email, format: email, severity: flag}
`;
// The fix: unplanned events are now allowed; negative totals still are not.
const FIXED_PLAN = PLAN.replace('unplanned_events: quarantine', 'unplanned_events: allow');

let dir;
let dataDir;
let planPath;
let configPath;
let srv;
const id = (name) => `q-${RUN}-${name}`;

before(async () => {
  assert.ok(haveSluice(), `sluice binary not found at ${sluiceBin()}`);
  dir = makeTempDir('sluice-quality-');
  dataDir = path.join(dir, 'data');
  planPath = path.join(dir, 'plan.yaml');
  configPath = path.join(dir, 'sluice.yaml');
  writeFileSync(planPath, PLAN);
  writeFileSync(configPath, 'quality:\n  plan: plan.yaml\n  admin_token: adm\nlake:\n  max_file_age: 1s\n');
  srv = await startServer({ dataDir, writeKeys: [WRITE_KEY], args: ['--config', configPath] });
});

after(async () => {
  if (srv && srv.running()) await srv.kill();
  cleanupTempDirs();
});

const order = (props) => ({ event: 'Order Completed', properties: { order_id: 'o1', ...props } });
const SENT = [
  ['valid-1', 'track', order({ total: 10, currency: 'usd' })],
  ['valid-2', 'track', order({ total: 0 })],
  ['corrected', 'track', order({ total: 5, currency: '  EUR ' })],
  ['flagged', 'track', order({ total: 5, coupon: 'SUMMER' })],
  ['flagged-identify', 'identify', { traits: { email: 'not-an-email' } }],
  ['negative', 'track', order({ total: -3 })],
  ['two-reasons', 'track', { event: 'Order Completed', properties: { total: -1, currency: 'gbp' } }],
  ['unplanned-1', 'track', { event: 'Mystery Event', properties: { x: 1 } }],
  ['unplanned-2', 'track', { event: 'Mystery Event', properties: { x: 2 } }],
];

test('the SDK sends a mix of valid, invalid, unplanned and flagged events', { timeout: 60000 }, async () => {
  const client = new Analytics({ writeKey: WRITE_KEY, host: srv.url, path: '/v1/batch', maxEventsInBatch: 4, flushInterval: 50 });
  const errors = [];
  client.on('error', (e) => errors.push(e));
  for (const [name, type, args] of SENT) client[type]({ messageId: id(name), userId: `u-${name}`, ...args });
  await client.closeAndFlush({ timeout: 30000 });
  assert.deepEqual(errors, [], 'quarantined events are still acknowledged: nothing for the SDK to retry');
});

test('an invalid plan is refused over HTTP and the old one stays in force', async () => {
  const post = (body, token = 'adm') => fetch(`${srv.url}/v1/admin/plan`, {
    method: 'POST', headers: { authorization: `Bearer ${token}` }, body,
  });
  const unauthorised = await post(FIXED_PLAN, 'nope');
  assert.equal(unauthorised.status, 401);
  const refused = await post('unplanned_events: maybe\n');
  assert.equal(refused.status, 400);
  assert.match((await refused.json()).error, /unplanned_events/);
  const metrics = await (await fetch(`${srv.url}/metrics`)).text();
  assert.match(metrics, /sluice_quality_plan_reloads_total\{result="refused"\} 1/);
  assert.match(metrics, new RegExp(`sluice_quality_events_total\\{source="${WRITE_KEY}",outcome="quarantined",event="Mystery Event"\\} 2`));
  assert.match(metrics, new RegExp(`sluice_quality_events_total\\{source="${WRITE_KEY}",outcome="corrected",event="Order Completed"\\} 1`));
  assert.match(metrics, /sluice_quality_violations_total\{rule="plan.range"\} 2/);
});

test('the lake holds exactly the right rows with the right reasons', { timeout: 30000 }, async () => {
  const total = (t) => [...deltaSnapshot(lakeTable(dataDir, t)).files.values()].reduce((n, a) => n + JSON.parse(a.stats).numRecords, 0);
  for (let waited = 0; waited < 20000 && total('events') + total('quarantine') < SENT.length; waited += 200) await sleep(200);
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.stderr());

  const events = await readWithDuckDB(dataDir, 'events', { select: 'message_id, properties, traits, flags, corrections, replayed_from' });
  const byId = new Map(events.map((r) => [r.message_id, r]));
  assert.deepEqual([...byId.keys()].sort(),
    ['valid-1', 'valid-2', 'corrected', 'flagged', 'flagged-identify'].map(id).sort());
  assert.equal(byId.get(id('valid-1')).flags, null);
  assert.equal(byId.get(id('valid-1')).corrections, null);
  const corrected = byId.get(id('corrected'));
  assert.equal(JSON.parse(corrected.properties).currency, 'eur');
  assert.deepEqual(JSON.parse(corrected.corrections),
    [{ path: 'properties.currency', action: 'trim+lowercase', before: '  EUR ', after: 'eur' }]);
  assert.deepEqual(JSON.parse(byId.get(id('flagged')).flags).map((f) => `${f.path} ${f.rule}`), ['properties.coupon plan.max_length']);
  assert.equal(JSON.parse(byId.get(id('flagged')).properties).coupon, 'SUMMER', 'a flag never changes the event');
  assert.deepEqual(JSON.parse(byId.get(id('flagged-identify')).flags).map((f) => `${f.path} ${f.rule}`), ['traits.email plan.format']);

  const held = await readWithDuckDB(dataDir, 'quarantine', { select: 'message_id, errors, raw' });
  const reasons = Object.fromEntries(held.map((r) => [r.message_id, JSON.parse(r.errors).map((e) => `${e.path} ${e.rule}`)]));
  assert.deepEqual(reasons, {
    [id('negative')]: ['properties.total plan.range'],
    [id('two-reasons')]: ['properties.total plan.range', 'properties.currency plan.enum', 'properties schema.required'],
    [id('unplanned-1')]: ['event plan.unplanned_event'],
    [id('unplanned-2')]: ['event plan.unplanned_event'],
  });
  for (const r of held) assert.equal(JSON.parse(r.raw).messageId, r.message_id, 'raw is the event as the SDK sent it');
});

test('quarantine list summarises by rule and event with examples', async () => {
  const all = await runSluice(['quarantine', 'list', '--data-dir', dataDir, '--config', configPath]);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /plan\.range\s+Order Completed\s+2\s+0/);
  assert.match(all.stdout, /plan\.unplanned_event\s+Mystery Event\s+2\s+0/);
  assert.ok(all.stdout.includes(id('unplanned-1')), all.stdout);
  const one = await runSluice(['quarantine', 'list', '--data-dir', dataDir, '--rule', 'plan.enum', '--since', '1h']);
  assert.equal(one.code, 0, one.stderr);
  assert.doesNotMatch(one.stdout, /Mystery/);
  assert.match(one.stdout, /plan\.enum\s+Order Completed\s+1/);
});

test('after fixing the plan, replay moves exactly the right rows, once', { timeout: 60000 }, async () => {
  writeFileSync(planPath, FIXED_PLAN);
  const replay = () => runSluice(['quarantine', 'replay', '--data-dir', dataDir, '--config', configPath]);
  const first = await replay();
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /4 held events selected: 2 released, 2 still fail the plan, 0 already released/);
  const second = await replay();
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /0 released, 2 still fail the plan, 2 already released/);

  const events = await readWithDuckDB(dataDir, 'events', { select: 'message_id, replayed_from, received_at' });
  assert.equal(events.length, 7);
  assert.equal(new Set(events.map((r) => r.message_id)).size, 7, 'each messageId once');
  const held = await readWithDuckDB(dataDir, 'quarantine', { select: 'message_id, log_offset, received_at' });
  for (const name of ['unplanned-1', 'unplanned-2']) {
    const released = events.find((r) => r.message_id === id(name));
    const origin = held.find((r) => r.message_id === id(name));
    assert.ok(released, `${name} released`);
    assert.equal(String(released.replayed_from), String(origin.log_offset));
    assert.equal(released.received_at, origin.received_at, 'the original received_at (and partition) is kept');
  }
  const list = await runSluice(['quarantine', 'list', '--data-dir', dataDir]);
  assert.match(list.stdout, /plan\.unplanned_event\s+Mystery Event\s+2\s+2/);
});

test('quarantine commands refuse a directory a server holds, and bad --since', async () => {
  const bad = await runSluice(['quarantine', 'replay', '--data-dir', dataDir, '--since', 'yesterday-ish']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--since/);
  const running = await startServer({ dataDir, writeKeys: [WRITE_KEY], args: ['--config', configPath] });
  try {
    const busy = await runSluice(['quarantine', 'list', '--data-dir', dataDir]);
    assert.equal(busy.code, 3);
    assert.match(busy.stderr, /stop the server first/);
  } finally {
    await running.stop();
  }
});

test('SIGHUP reloads the plan file and keeps serving; an invalid file is refused', { timeout: 30000 }, async () => {
  const hupDir = makeTempDir('sluice-quality-hup-');
  writeFileSync(path.join(hupDir, 'plan.yaml'), PLAN);
  writeFileSync(path.join(hupDir, 'sluice.yaml'), 'quality:\n  plan: plan.yaml\n');
  const s = await startServer({ dataDir: path.join(hupDir, 'data'), writeKeys: [WRITE_KEY], args: ['--config', path.join(hupDir, 'sluice.yaml')] });
  const outcome = async (n) => {
    const res = await fetch(`${s.url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Basic ' + Buffer.from(`${WRITE_KEY}:`).toString('base64'), 'x-sluice-outcomes': '1' },
      body: JSON.stringify({ batch: [{ type: 'track', userId: 'u', event: 'Mystery Event', properties: { n } }] }),
    });
    return (await res.json()).outcomes[0];
  };
  const waitFor = async (re) => {
    for (let waited = 0; waited < 10000 && !re.test(s.stderr()); waited += 50) await sleep(50);
    assert.match(s.stderr(), re);
  };
  try {
    assert.equal(await outcome(1), 'quarantined:plan.unplanned_event');
    writeFileSync(path.join(hupDir, 'plan.yaml'), FIXED_PLAN);
    s.proc.kill('SIGHUP');
    await waitFor(/SIGHUP: tracking plan reloaded/);
    assert.equal(await outcome(2), 'accepted');
    writeFileSync(path.join(hupDir, 'plan.yaml'), 'events: [oops\n');
    s.proc.kill('SIGHUP');
    await waitFor(/SIGHUP: tracking plan refused, the previous one stays/);
    assert.ok(s.running());
    assert.equal(await outcome(3), 'accepted');
  } finally {
    const { code } = await s.stop();
    assert.equal(code, 0, s.stderr());
  }
});
