// End to end: @segment/analytics-node sends timestamped events for many
// users (anonymous first, then identified); every user's profile served at
// GET /v1/profiles/{id} matches the features computed independently by a
// DuckDB query (@duckdb/node-api) over the lake the same server wrote —
// lifetime counts and sums, a sliding 7-day count (same bucket rule), the
// segment rule and the attributes loaded with `sluice attributes load`.
// `sluice profile get` prints the same profile, over --url and --data-dir.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Analytics } from '@segment/analytics-node';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  startServer, startJsonReceiver, makeTempDir, cleanupTempDirs, haveSluice, sluiceBin, runSluice, sleep, isoMicros,
} from './lib/server.mjs';
import { deltaSnapshot, lakeTable } from './lib/lake.mjs';

const WRITE_KEY = 'WK_e2e_profiles';
const READ_TOKEN = 'RT_e2e_profiles';
const USERS = 60;
const EVENTS = 1500;
const HOUR_US = 3_600_000_000n;
const BUCKET_US = 3n * HOUR_US;
const WINDOW_US = 7n * 24n * HOUR_US;

export const FEATURES_YAML = `
watermark:
  out_of_orderness: 5m
  allowed_lateness: 30d
  late_policy: lifetime_only
features:
  - name: events_lifetime
    aggregate: count
  - name: orders_lifetime
    type: [track]
    event: Order Completed
    aggregate: count
  - name: revenue_lifetime
    type: [track]
    event: Order Completed
    aggregate: sum
    property: properties.revenue
  - name: events_7d
    aggregate: count
    window: 7d
    bucket: 3h
`;

let dir;
let dataDir;
let config;
let srv;
let hook;
let posts;

before(async () => {
  assert.ok(haveSluice(), `sluice binary not found at ${sluiceBin()}; build it first (or set SLUICE_BIN)`);
  // The segment webhook's receiver.
  hook = await startJsonReceiver();
  posts = hook.posts;
  dir = makeTempDir('sluice-profiles-');
  dataDir = path.join(dir, 'data');
  writeFileSync(path.join(dir, 'features.yaml'), FEATURES_YAML);
  config = path.join(dir, 'sluice.yaml');
  writeFileSync(config, `
http:
  read_token: ${READ_TOKEN}
lake:
  max_file_age: 1s
warehouse:
  enabled: false
profiles:
  features: features.yaml
  checkpoint_interval_ms: 100
  segment_webhook: ${hook.url}/segments
  segments:
    - name: big_spender
      rule: revenue_lifetime >= 100
    - name: pro_buyer
      rule: plan == "pro" and orders_lifetime >= 1
`);
  // Attributes first (offline, like a nightly CRM export): every third user is pro.
  const csv = ['userId,plan,country,seats'];
  for (let u = 0; u < USERS; u++) csv.push(`user-${u},${u % 3 === 0 ? 'pro' : 'free'},"${u % 2 ? 'DE' : 'FR, Paris'}",${u}`);
  writeFileSync(path.join(dir, 'attrs.csv'), csv.join('\n') + '\n');
  const load = await runSluice(['attributes', 'load', path.join(dir, 'attrs.csv'), '--data-dir', dataDir, '--config', config]);
  assert.equal(load.code, 0, load.stderr);
  assert.match(load.stdout, new RegExp(`${USERS} users`));
  srv = await startServer({ dataDir, writeKeys: [WRITE_KEY], args: ['--config', config] });
});

after(async () => {
  if (srv && srv.running()) await srv.kill();
  hook?.close();
  cleanupTempDirs();
});

async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.split(' ').pop()) : NaN;
}

// Waits until the profile builder and the lake have committed the whole log.
async function caughtUp(url) {
  for (let i = 0; i < 600; i++) {
    if ((await metric(url, 'sluice_profile_lag_records')) === 0 && (await metric(url, 'sluice_lake_lag_records')) === 0) return;
    await sleep(100);
  }
  throw new Error('profiles/lake did not catch up within 60 s');
}

async function getProfile(id, fields) {
  const q = fields ? `?fields=${fields}` : '';
  const r = await fetch(`${srv.url}/v1/profiles/${encodeURIComponent(id)}${q}`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
  return { status: r.status, body: await r.json() };
}

test('SDK events for many users become profiles equal to DuckDB over the lake', { timeout: 180000 }, async () => {
  const client = new Analytics({ writeKey: WRITE_KEY, host: srv.url, path: '/v1/batch', maxEventsInBatch: 100, flushInterval: 50 });
  const now = Date.now();
  // Pre-login: each user's first events carry only an anonymousId.
  for (let u = 0; u < USERS; u++) {
    for (let k = 0; k < 3; k++) {
      client.page({ anonymousId: `anon-${u}`, name: 'Landing', timestamp: new Date(now - (9 * 24 + u) * 3600e3 - k * 1000) });
    }
  }
  await client.flush?.();
  for (let u = 0; u < USERS; u++) {
    client.identify({ userId: `user-${u}`, anonymousId: `anon-${u}`, traits: { email: `u${u}@example.com` },
      timestamp: new Date(now - 9 * 24 * 3600e3) });
  }
  // Then events over the last 10 days, in no particular order.
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < EVENTS; i++) {
    const u = Math.floor(rnd() * USERS);
    const t = new Date(now - Math.floor(rnd() * 10 * 24 * 3600e3));
    if (i % 3 === 0) {
      client.track({ userId: `user-${u}`, event: 'Order Completed', properties: { revenue: Math.round(rnd() * 5000) / 100 }, timestamp: t });
    } else if (i % 3 === 1) {
      client.track({ userId: `user-${u}`, event: 'Product Viewed', properties: { sku: `s${i}` }, timestamp: t });
    } else {
      client.page({ anonymousId: `anon-${u}`, name: 'Catalog', timestamp: t });  // logged out again, same device
    }
  }
  await client.closeAndFlush({ timeout: 60000 });
  await caughtUp(srv.url);
  assert.ok(deltaSnapshot(lakeTable(dataDir, 'events')).files.size > 0);

  // Every profile, then the same numbers from DuckDB over the lake's Parquet files.
  const profiles = new Map();
  for (let u = 0; u < USERS; u++) {
    const r = await getProfile(`user-${u}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    profiles.set(`user-${u}`, r.body);
  }
  const files = [...deltaSnapshot(lakeTable(dataDir, 'events')).files.keys()]
    .map((p) => `'${path.join(lakeTable(dataDir, 'events'), p)}'`).join(',');
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run(`CREATE VIEW ev AS SELECT * FROM read_parquet([${files}])`);
  // Identity as the profiles define it: an event with both ids links them.
  await conn.run(`CREATE VIEW links AS SELECT DISTINCT anonymous_id, user_id FROM ev WHERE user_id IS NOT NULL AND anonymous_id IS NOT NULL`);
  await conn.run(`CREATE VIEW owned AS
    SELECT coalesce(ev.user_id, links.user_id) AS owner, ev.* FROM ev LEFT JOIN links ON ev.user_id IS NULL AND ev.anonymous_id = links.anonymous_id`);
  for (const [id, p] of profiles) {
    const asOf = isoMicros(p.asOf);
    const lo = (asOf - WINDOW_US) / BUCKET_US;  // floor for positive values
    const hi = asOf / BUCKET_US;
    const reader = await conn.runAndReadAll(`
      SELECT count(*)::BIGINT AS events,
             count(*) FILTER (WHERE type = 'track' AND event = 'Order Completed')::BIGINT AS orders,
             coalesce(sum(CAST(json_extract(properties, '$.revenue') AS DOUBLE)) FILTER (WHERE type = 'track' AND event = 'Order Completed'), 0) AS revenue,
             count(*) FILTER (WHERE epoch_us(timestamp) // ${BUCKET_US} > ${lo} AND epoch_us(timestamp) // ${BUCKET_US} <= ${hi})::BIGINT AS ev7d
      FROM owned WHERE owner = '${id}'`);
    const [row] = reader.getRowObjectsJson();
    const f = p.features;
    assert.equal(f.events_lifetime.value, Number(row.events), `${id} events_lifetime`);
    assert.equal(f.orders_lifetime.value, Number(row.orders), `${id} orders_lifetime`);
    assert.ok(Math.abs(f.revenue_lifetime.value - Number(row.revenue)) < 1e-6, `${id} revenue ${f.revenue_lifetime.value} vs ${row.revenue}`);
    assert.equal(f.events_7d.value, Number(row.ev7d), `${id} events_7d`);
    assert.equal(isoMicros(f.events_7d.windowEnd), (hi + 1n) * BUCKET_US, `${id} events_7d window end`);
    const u = Number(id.split('-')[1]);
    assert.equal(p.attributes.plan, u % 3 === 0 ? 'pro' : 'free', `${id} plan`);
    assert.equal(p.attributes.email, `u${u}@example.com`, `${id} email from the identify traits`);
    assert.deepEqual(p.traits, { email: `u${u}@example.com` });
    // The canonical id first, then the linked ids by key (kind byte: 'a' before 'e').
    assert.deepEqual(p.identities, [{ type: 'userId', id }, { type: 'anonymousId', id: `anon-${u}` },
      { type: 'email', id: `u${u}@example.com` }]);
    const byEmail = await getProfile(`U${u}@Example.com`, 'identities');
    assert.equal(byEmail.body.userId, id, `${id} answers for its email`);
    const segments = p.segments.map((s) => s.name).sort();
    const expected = [];
    if (Number(row.revenue) >= 100) expected.push('big_spender');
    if (u % 3 === 0 && Number(row.orders) >= 1) expected.push('pro_buyer');
    assert.deepEqual(segments, expected.sort(), `${id} segments`);
  }
  // Read again, each profile comes from the read cache (nothing was written
  // since), with the same answer.
  const hit = 'sluice_profile_read_cache_lookups_total{result="hit"}';
  const hitsBefore = await metric(srv.url, hit);
  for (const [id, p] of profiles) {
    const again = await getProfile(id, 'traits,attributes,segments,identities,features.events_lifetime');
    assert.equal(again.status, 200);
    assert.deepEqual([again.body.traits, again.body.attributes, again.body.segments, again.body.identities],
      [p.traits, p.attributes, p.segments, p.identities], `${id} read again`);
    assert.equal(again.body.features.events_lifetime.value, p.features.events_lifetime.value);
  }
  assert.equal(await metric(srv.url, hit) - hitsBefore, USERS);
  assert.ok(await metric(srv.url, 'sluice_profile_read_cache_entries') >= USERS);
  // The anonymousId answers with the same profile.
  const byAnon = await getProfile('anon-5', 'features.events_lifetime');
  assert.equal(byAnon.status, 200, JSON.stringify(byAnon.body));
  assert.equal(byAnon.body.userId, 'user-5');
  assert.equal(byAnon.body.features.events_lifetime.value, profiles.get('user-5').features.events_lifetime.value);
  assert.deepEqual(Object.keys(byAnon.body.features), ['events_lifetime']);
  // Segment gauges agree with the profiles.
  const big = [...profiles.values()].filter((p) => p.segments.some((s) => s.name === 'big_spender')).length;
  assert.equal(await metric(srv.url, 'sluice_segment_members{segment="big_spender"}'), big);
  // …and so do the webhook's posts (each profile entered once; none left: revenue only grows).
  for (let i = 0; i < 100 && posts.filter((p) => p.segment === 'big_spender').length < big; i++) await sleep(50);
  const entered = posts.filter((p) => p.segment === 'big_spender');
  assert.equal(entered.length, big);
  assert.ok(entered.every((p) => p.change === 'entered' && /^user-\d+$/.test(p.userId) && isoMicros(p.at) > 0n));
  assert.equal(new Set(entered.map((p) => p.userId)).size, big);

  // The CLI, against the running server and then the stopped data directory.
  const viaUrl = await runSluice(['profile', 'get', 'user-7', '--url', srv.url, '--token', READ_TOKEN]);
  assert.equal(viaUrl.code, 0, viaUrl.stderr);
  const a = JSON.parse(viaUrl.stdout);
  assert.deepEqual({ ...a, asOf: 0 }, { ...profiles.get('user-7'), asOf: 0, features: a.features });
  assert.equal(a.features.events_lifetime.value, profiles.get('user-7').features.events_lifetime.value);
  const noToken = await runSluice(['profile', 'get', 'user-7', '--url', srv.url]);
  assert.equal(noToken.code, 3);
  assert.match(noToken.stderr, /401/);
  const busy = await runSluice(['profile', 'get', 'user-7', '--data-dir', dataDir]);
  assert.equal(busy.code, 3);
  assert.match(busy.stderr, /--url/);
  await srv.stop();
  const offline = await runSluice(['profile', 'get', 'anon-7', '--data-dir', dataDir, '--config', config]);
  assert.equal(offline.code, 0, offline.stderr);
  assert.equal(JSON.parse(offline.stdout).features.events_lifetime.value, a.features.events_lifetime.value);
  const missing = await runSluice(['profile', 'get', 'nobody', '--data-dir', dataDir, '--config', config]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nobody/);
  const usage = await runSluice(['profile', 'get']);
  assert.equal(usage.code, 2);
});
