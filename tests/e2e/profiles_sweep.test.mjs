// End to end: segments follow the clock for users who have gone quiet. An
// SDK sends two events per user; with no further events the server's
// segment sweep moves every user out of a short sliding-window segment and
// into a recency ("lapsed") one — seen in the served profiles, the
// /metrics gauges and the segment webhook's posts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Analytics } from '@segment/analytics-node';
import {
  startServer, startJsonReceiver, makeTempDir, cleanupTempDirs, haveSluice, sluiceBin, sleep,
} from './lib/server.mjs';

const WRITE_KEY = 'WK_e2e_sweep';
const USERS = 5;

let dir;
let srv;
let hook;
let posts;

before(async () => {
  assert.ok(haveSluice(), `sluice binary not found at ${sluiceBin()}; build it first (or set SLUICE_BIN)`);
  hook = await startJsonReceiver();
  posts = hook.posts;
  dir = makeTempDir('sluice-sweep-');
  writeFileSync(path.join(dir, 'features.yaml'), `
features:
  - name: recency
    aggregate: seconds_since_last
  - name: events_5s
    aggregate: count
    window: 5s
    bucket: 1s
`);
  writeFileSync(path.join(dir, 'sluice.yaml'), `
warehouse:
  enabled: false
profiles:
  features: features.yaml
  checkpoint_interval_ms: 100
  segment_sweep_per_second: 1000
  segment_webhook: ${hook.url}/segments
  segments:
    - name: active
      rule: events_5s >= 2
    - name: lapsed
      rule: recency > 3
`);
  srv = await startServer({ dataDir: path.join(dir, 'data'), writeKeys: [WRITE_KEY], args: ['--config', path.join(dir, 'sluice.yaml')] });
});

after(async () => {
  if (srv && srv.running()) await srv.kill();
  hook?.close();
  cleanupTempDirs();
});

async function metric(name) {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.split(' ').pop()) : NaN;
}

const changes = (segment, change) => posts.filter((p) => p.segment === segment && p.change === change);

test('quiet users leave a window segment and enter a recency segment with no events', { timeout: 120000 }, async () => {
  const client = new Analytics({ writeKey: WRITE_KEY, host: srv.url, path: '/v1/batch', flushInterval: 50 });
  const now = new Date();
  for (let u = 0; u < USERS; u++) {
    for (let k = 0; k < 2; k++) {
      client.track({ userId: `user-${u}`, event: 'Product Viewed', properties: { sku: `s${k}` }, timestamp: now });
    }
  }
  await client.closeAndFlush({ timeout: 30000 });
  // Entered "active" by their events…
  for (let i = 0; i < 200 && changes('active', 'entered').length < USERS; i++) await sleep(50);
  assert.equal(changes('active', 'entered').length, USERS, JSON.stringify(posts));
  // …then, with no event, out of it and into "lapsed" once the clock has moved on.
  for (let i = 0; i < 600 && (changes('active', 'left').length < USERS || changes('lapsed', 'entered').length < USERS); i++) {
    await sleep(100);
  }
  assert.deepEqual(changes('active', 'left').map((p) => p.userId).sort(), [...Array(USERS).keys()].map((u) => `user-${u}`));
  assert.deepEqual(changes('lapsed', 'entered').map((p) => p.userId).sort(), [...Array(USERS).keys()].map((u) => `user-${u}`));
  assert.equal(posts.length, 3 * USERS, JSON.stringify(posts));  // each change posted once
  assert.equal(await metric('sluice_segment_members{segment="active"}'), 0);
  assert.equal(await metric('sluice_segment_members{segment="lapsed"}'), USERS);
  assert.ok((await metric('sluice_profile_segment_sweep_profiles_total')) >= USERS);
  for (let u = 0; u < USERS; u++) {
    const r = await fetch(`${srv.url}/v1/profiles/user-${u}?fields=segments`);
    assert.equal(r.status, 200);
    assert.deepEqual((await r.json()).segments.map((s) => s.name), ['lapsed'], `user-${u}`);
  }
});
