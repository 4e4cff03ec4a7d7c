// End to end: identity resolution. @segment/analytics-node sends anonymous
// page views from a laptop and a phone, the laptop identifies with an email,
// the phone identifies (no login) with a typo'd email. GET /v1/profiles/{id}
// answers one merged profile for every id (both anonymousIds, the userId,
// both emails); `sluice identity explain` shows the evidence (the identify
// and the fuzzy match with its distance); `sluice identity unmerge` splits
// the phone off again with counts equal to a DuckDB query over the lake.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Analytics } from '@segment/analytics-node';
import { DuckDBInstance } from '@duckdb/node-api';
import { startServer, makeTempDir, cleanupTempDirs, haveSluice, sluiceBin, runSluice, sleep } from './lib/server.mjs';
import { deltaSnapshot, lakeTable } from './lib/lake.mjs';

const WRITE_KEY = 'WK_e2e_identity';
// The tests' server config: the lake commits and profiles checkpoint quickly;
// `profilesExtra` (indented under profiles:) adds keys such as identity limits.
const configYaml = (profilesExtra = '') => `
lake:
  max_file_age: 1s
warehouse:
  enabled: false
profiles:
  checkpoint_interval_ms: 100
${profilesExtra}`;
let dir;
let dataDir;
let config;
let srv;

before(async () => {
  assert.ok(haveSluice(), `sluice binary not found at ${sluiceBin()}; build it first (or set SLUICE_BIN)`);
  dir = makeTempDir('sluice-identity-');
  dataDir = path.join(dir, 'data');
  config = path.join(dir, 'sluice.yaml');
  writeFileSync(config, configYaml());
  srv = await startServer({ dataDir, writeKeys: [WRITE_KEY], args: ['--config', config] });
});

after(async () => {
  if (srv && srv.running()) await srv.kill();
  cleanupTempDirs();
});

async function metric(name) {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.split(' ').pop()) : NaN;
}

async function caughtUp() {
  for (let i = 0; i < 600; i++) {
    if ((await metric('sluice_profile_lag_records')) === 0 && (await metric('sluice_lake_lag_records')) === 0) return;
    await sleep(100);
  }
  throw new Error('profiles/lake did not catch up within 60 s');
}

async function profile(id) {
  const r = await fetch(`${srv.url}/v1/profiles/${encodeURIComponent(id)}`);
  return { status: r.status, body: await r.json() };
}

test('one person on two devices, one with a typo: merged, explained, unmerged', { timeout: 180000 }, async () => {
  const client = new Analytics({ writeKey: WRITE_KEY, host: srv.url, path: '/v1/batch', maxEventsInBatch: 50, flushInterval: 50 });
  const t0 = Date.now() - 3600e3;
  const at = (s) => new Date(t0 + s * 1000);
  for (let k = 0; k < 6; k++) client.page({ anonymousId: 'laptop-1', name: 'Landing', timestamp: at(k) });
  for (let k = 0; k < 3; k++) client.page({ anonymousId: 'phone-1', name: 'Landing', timestamp: at(10 + k) });
  client.identify({ userId: 'ann-42', anonymousId: 'laptop-1', timestamp: at(20),
    traits: { email: 'ann.smith@example.com', name: 'Ann Smith', city: 'London' } });
  client.track({ userId: 'ann-42', event: 'Order Completed', properties: { revenue: 30 }, timestamp: at(30) });
  // The phone never logs in; its form had a transposition in the address.
  client.identify({ anonymousId: 'phone-1', timestamp: at(40),
    traits: { email: 'ann.smtih@example.com', name: 'ann smith', city: 'London' } });
  for (let k = 0; k < 2; k++) client.page({ anonymousId: 'phone-1', name: 'Catalog', timestamp: at(50 + k) });
  // Someone else, on the same mail provider: stays apart.
  client.identify({ userId: 'bob-7', anonymousId: 'desk-9', timestamp: at(60), traits: { email: 'bob.jones@example.com', name: 'Bob Jones' } });
  await client.closeAndFlush({ timeout: 60000 });
  await caughtUp();

  // One merged profile, whichever id is asked for.
  const ids = ['ann-42', 'laptop-1', 'phone-1', 'ann.smith@example.com', 'ANN.SMTIH@example.com'];
  const counted = 6 + 3 + 1 + 2;  // pages and the track (the default events_lifetime leaves identify out)
  for (const id of ids) {
    const r = await profile(id);
    assert.equal(r.status, 200, `${id}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.userId, 'ann-42', id);
    assert.equal(r.body.features.events_lifetime.value, counted, id);
  }
  const merged = (await profile('phone-1')).body;
  const linked = merged.identities.map((i) => `${i.type}:${i.id}`).sort();
  assert.deepEqual(linked, ['anonymousId:laptop-1', 'anonymousId:phone-1', 'email:ann.smith@example.com',
    'email:ann.smtih@example.com', 'userId:ann-42']);
  assert.equal((await profile('bob-7')).body.userId, 'bob-7');
  assert.equal(await metric('sluice_identity_fuzzy_links_total'), 1);

  // Explain needs the data directory to itself: refused while the server runs.
  const busy = await runSluice(['identity', 'explain', 'phone-1', '--data-dir', dataDir, '--config', config]);
  assert.equal(busy.code, 3);
  assert.match(busy.stderr, /stop the server/);
  await srv.stop();

  const explained = await runSluice(['identity', 'explain', 'phone-1', '--data-dir', dataDir, '--config', config]);
  assert.equal(explained.code, 0, explained.stderr);
  const why = JSON.parse(explained.stdout);
  assert.equal(why.canonical, 'user_id:ann-42');
  const fuzzy = why.links.find((l) => l.rule === 'fuzzy');
  assert.ok(fuzzy, explained.stdout);
  // Between the two profiles as they were: the phone's (keyed by its email) and Ann's.
  assert.deepEqual([fuzzy.a, fuzzy.b].sort(), ['email:ann.smtih@example.com', 'user_id:ann-42']);
  const emailDistance = fuzzy.distances.find((d) => d.field === 'email');
  assert.equal(emailDistance.distance, 1);  // one transposition
  assert.ok(fuzzy.score >= 0.9, `score ${fuzzy.score}`);
  // Event times may be corrected for the client's clock skew: a little slack.
  assert.ok(Math.abs(fuzzy.time_ms - (t0 + 40000)) < 5000, `fuzzy link at ${fuzzy.time_ms}`);
  const identify = why.links.find((l) => l.rule === 'identify');
  assert.deepEqual([identify.a, identify.b].sort(), ['anonymous_id:laptop-1', 'user_id:ann-42']);
  assert.ok(Math.abs(identify.time_ms - (t0 + 20000)) < 5000, `identify link at ${identify.time_ms}`);
  assert.equal(why.path[0].a === 'anonymous_id:phone-1' || why.path[0].b === 'anonymous_id:phone-1', true);

  // Undo the fuzzy merge: both sides recomputed from the log.
  const un = await runSluice(['identity', 'unmerge', '--link', 'ann.smtih@example.com', 'ann-42',
    '--data-dir', dataDir, '--config', config]);
  assert.equal(un.code, 0, un.stderr);
  assert.match(un.stdout, /1 link\(s\) removed/);

  // The same split from the lake: the phone's events and the rest of Ann's.
  const files = [...deltaSnapshot(lakeTable(dataDir, 'events')).files.keys()]
    .map((p) => `'${path.join(lakeTable(dataDir, 'events'), p)}'`).join(',');
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const reader = await conn.runAndReadAll(`
    SELECT coalesce(user_id, anonymous_id) = 'phone-1' AS phone, count(*)::BIGINT AS n
    FROM read_parquet([${files}])
    WHERE type IN ('track', 'page', 'screen') AND (anonymous_id IN ('laptop-1', 'phone-1') OR user_id = 'ann-42')
    GROUP BY ALL ORDER BY phone`);
  const counts = Object.fromEntries(reader.getRowObjectsJson().map((r) => [r.phone ? 'phone' : 'ann', Number(r.n)]));
  assert.deepEqual(counts, { ann: 7, phone: 5 });
  const get = async (id) => {
    const r = await runSluice(['profile', 'get', id, '--data-dir', dataDir, '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const phone = await get('phone-1');
  assert.equal(phone.userId, undefined);
  assert.equal(phone.features.events_lifetime.value, counts.phone);
  const ann = await get('laptop-1');
  assert.equal(ann.userId, 'ann-42');
  assert.equal(ann.features.events_lifetime.value, counts.ann);
  // The typo'd email stays with the phone (its identify linked them).
  assert.equal((await get('ann.smtih@example.com')).features.events_lifetime.value, counts.phone);
  assert.equal((await get('ann.smith@example.com')).userId, 'ann-42');
  const again = await runSluice(['identity', 'explain', 'phone-1', '--data-dir', dataDir, '--config', config]);
  assert.ok(JSON.parse(again.stdout).refused.some((l) => l.state === 'removed'), again.stdout);

  // The warehouse's identity_map: SQL joins events on people.
  const etl = await runSluice(['etl', 'run', 'identity_map', '--data-dir', dataDir]);
  assert.equal(etl.code, 0, etl.stderr + etl.stdout);
  const map = await runSluice(['query', 'SELECT id_type, id, canonical_id FROM identity_map ORDER BY id_type, id',
    '--format', 'json', '--data-dir', dataDir]);
  assert.equal(map.code, 0, map.stderr);
  const rows = map.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const canonicalOf = Object.fromEntries(rows.map((r) => [`${r.id_type}:${r.id}`, r.canonical_id]));
  assert.equal(canonicalOf['anonymous_id:laptop-1'], 'user_id:ann-42');
  assert.equal(canonicalOf['anonymous_id:phone-1'], 'email:ann.smtih@example.com');
  assert.equal(canonicalOf['email:ann.smith@example.com'], 'user_id:ann-42');
  assert.equal(canonicalOf['anonymous_id:desk-9'], 'user_id:bob-7');
  const people = await runSluice(['query', `
    SELECT coalesce(m.canonical_id, 'anonymous_id:' || e.anonymous_id) AS person, count(*) AS n
    FROM lake.events e LEFT JOIN identity_map m
      ON (e.user_id IS NOT NULL AND m.id_type = 'user_id' AND m.id = e.user_id)
      OR (e.user_id IS NULL AND m.id_type = 'anonymous_id' AND m.id = e.anonymous_id)
    WHERE e.type IN ('track', 'page', 'screen') GROUP BY ALL ORDER BY person`, '--format', 'json', '--data-dir', dataDir]);
  assert.equal(people.code, 0, people.stderr);
  const byPerson = Object.fromEntries(people.stdout.trim().split('\n').map((l) => JSON.parse(l)).map((r) => [r.person, Number(r.n)]));
  assert.deepEqual(byPerson, { 'email:ann.smtih@example.com': counts.phone, 'user_id:ann-42': counts.ann });
});

// The server's limits decide which links hold, so the etl commands read the
// graph with the config they are given: an alias between two userIds holds
// under `limits: {user_id: 2}` and is refused under the default of one.
test('etl --config reads identity_map with the server\'s identity limits', { timeout: 120000 }, async () => {
  const d = makeTempDir('sluice-identity-limits-');
  const data = path.join(d, 'data');
  const cfg = path.join(d, 'sluice.yaml');
  writeFileSync(cfg, configYaml('  identity:\n    limits: {user_id: 2}\n'));
  const s = await startServer({ dataDir: data, writeKeys: [WRITE_KEY], args: ['--config', cfg] });
  try {
    const client = new Analytics({ writeKey: WRITE_KEY, host: s.url, path: '/v1/batch', flushInterval: 50 });
    client.track({ userId: 'old-login', event: 'Signed In' });
    client.track({ userId: 'new-login', event: 'Signed In' });
    client.alias({ previousId: 'old-login', userId: 'new-login' });
    await client.closeAndFlush({ timeout: 30000 });
    let merged;
    for (let i = 0; i < 300; i++) {
      const r = await fetch(`${s.url}/v1/profiles/old-login`);
      if (r.status === 200 && (merged = await r.json()).identities.length === 2) break;
      await sleep(100);
    }
    assert.deepEqual(merged.identities.map((x) => x.id).sort(), ['new-login', 'old-login']);
  } finally {
    await s.stop();
  }
  const mapOf = async (args) => {
    const etl = await runSluice(['etl', 'run', 'identity_map', '--force', '--data-dir', data, ...args]);
    assert.equal(etl.code, 0, etl.stderr + etl.stdout);
    const q = await runSluice(['query', "SELECT id, canonical_id FROM identity_map WHERE id_type = 'user_id'",
      '--format', 'json', '--data-dir', data]);
    assert.equal(q.code, 0, q.stderr);
    const out = q.stdout.trim();
    return Object.fromEntries(out ? out.split('\n').map((l) => JSON.parse(l)).map((r) => [r.id, r.canonical_id]) : []);
  };
  const withConfig = await mapOf(['--config', cfg]);
  assert.equal(withConfig['old-login'], withConfig['new-login'], JSON.stringify(withConfig));
  const withDefaults = await mapOf([]);
  assert.notEqual(withDefaults['old-login'] ?? 'user_id:old-login', withDefaults['new-login'] ?? 'user_id:new-login',
    JSON.stringify(withDefaults));
  const bad = await runSluice(['etl', 'run', 'identity_map', '--data-dir', data, '--config', path.join(d, 'missing.yaml')]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /missing\.yaml/);
});
