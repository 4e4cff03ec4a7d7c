// End to end: the real Segment and RudderStack Node SDKs send events to
// `sluice serve`; after a clean stop, `sluice log dump` must hold every event
// exactly once, with its fields as the SDK put them on the wire.
// Also a few raw requests for the error contract (401, 400, 413, outcomes).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Analytics as SegmentAnalytics } from '@segment/analytics-node';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import {
  startServer, makeTempDir, cleanupTempDirs, logDump, basicAuth, isoMicros, haveSluice, sluiceBin,
} from './lib/server.mjs';

const WRITE_KEY = 'WK_e2e_sdk';
const OTHER_KEY = 'WK_e2e_other';
const RUN = Date.now().toString(36);
const N_SEGMENT = 200;
const N_RUDDER = 200;
const TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'];
// Top-level keys Sluice maps to its own fields; anything else lands in `extra`.
const KNOWN_KEYS = new Set([
  'messageId', 'type', 'event', 'name', 'userId', 'anonymousId', 'previousId', 'groupId',
  'timestamp', 'originalTimestamp', 'sentAt', 'receivedAt', 'properties', 'traits', 'context',
  'integrations', 'writeKey',
]);

const TRICKY = 'café "q" \\ 🎉 日本';

// Deterministic, varied payloads: Unicode, escapes, control characters,
// nesting, arrays, every JSON number shape that round-trips through JS.
function payload(i, who) {
  return {
    label: TRICKY,
    who,
    i,
    price: Math.round((i * 7.31 + 0.99) * 100) / 100,
    qty: i % 13,
    neg: -(i + 1),
    zero: 0,
    tiny: 1.5e-7,
    huge: 1.7976931348623157e308,
    maxSafe: 9007199254740991,
    flag: i % 2 === 0,
    nothing: null,
    empty: '',
    emptyObj: {},
    emptyArr: [],
    ctrl: 'tab\tnl\nret\rbs\bff\fnul-ish\u0001\u001f',
    lineSep: 'a\u2028b\u2029c',
    slash: 'a/b</script>',
    [`ключ "${i}"`]: `значение ${i}`,
    tags: ['a', 1, 2.5, true, null, { k: 'v' }, [TRICKY]],
    nested: { level1: { level2: { level3: { level4: { i, s: `deep ${TRICKY}` } } } } },
    product: { id: `sku-${i}`, name: `Prod ${i} ✓`, category: ['Books', 'Toys', 'Food'][i % 3] },
  };
}

function userOf(i) { return `user-${RUN}-${i % 17}-ü`; }
function tsOf(i) { return new Date(Date.UTC(2024, 4, 1, 12, 0, 0) + i * 37_123); }

// What each SDK is asked to send; `input` keeps the caller's view to check
// the SDK did not change the payload either.
function makeCalls(prefix, n) {
  const calls = [];
  for (let i = 0; i < n; i++) {
    const type = TYPES[i % TYPES.length];
    const messageId = `${prefix}-${RUN}-${i}`;
    const base = { messageId, userId: userOf(i) };
    if (i % 5 === 0) base.anonymousId = `anon-${RUN}-${i}`;
    base.context = { ip: '203.0.113.7', locale: 'fr-FR', page: { path: `/p/${i}`, title: TRICKY }, custom: { i } };
    let args;
    switch (type) {
      case 'track':
        args = { ...base, event: i % 4 === 0 ? `Order Completed ✓ "${i}"` : 'Product Viewed', properties: payload(i, prefix) };
        if (i % 3 === 0) args.integrations = { All: true, 'Google Analytics': false, Amplitude: { session_id: i } };
        break;
      case 'identify':
        args = { ...base, traits: { email: `u${i}@example.com`, name: `Zoë ${i}`, plan: 'pro', meta: payload(i, prefix) } };
        break;
      case 'page':
        args = { ...base, name: `Home ${TRICKY}`, properties: payload(i, prefix) };
        break;
      case 'screen':
        args = { ...base, name: `Screen ${i}`, properties: payload(i, prefix) };
        break;
      case 'group':
        args = { ...base, groupId: `group-${i % 7}`, traits: { name: `Acme ${TRICKY}`, employees: i, meta: { nested: [1, { a: TRICKY }] } } };
        break;
      case 'alias':
        args = { ...base, previousId: `anon-prev-${RUN}-${i}` };
        delete args.anonymousId;
        break;
    }
    calls.push({ type, messageId, args, ts: tsOf(i) });
  }
  return calls;
}

let dataDir;
let srv;
let startedAt;
let stoppedAt;
let records;
const byId = new Map();   // messageId -> [records]
const wire = new Map();   // messageId -> { sdk, event (as sent on the wire), batch }
const segmentCalls = makeCalls('seg', N_SEGMENT);
const rudderCalls = makeCalls('rud', N_RUDDER);
const rudderRequests = []; // { headers, status }
const segmentResponses = []; // status
const rawIds = {};          // name -> messageId for the raw-fetch events

before(async () => {
  assert.ok(haveSluice(), `sluice binary not found at ${sluiceBin()}; build it first (or set SLUICE_BIN)`);
  dataDir = makeTempDir();
  startedAt = Date.now();
  srv = await startServer({ dataDir, writeKeys: [WRITE_KEY, OTHER_KEY] });
});

after(async () => {
  if (srv && srv.running()) await srv.kill();
  cleanupTempDirs();
});

test('Segment analytics-node delivers its events', { timeout: 60000 }, async () => {
  const client = new SegmentAnalytics({
    writeKey: WRITE_KEY, host: srv.url, path: '/v1/batch', maxEventsInBatch: 20, flushInterval: 100, maxRetries: 3,
  });
  client.on('http_request', (req) => {
    const body = JSON.parse(req.body);
    for (const e of body.batch) wire.set(e.messageId, { sdk: 'segment', event: e, batch: body });
  });
  client.on('http_response', (res) => segmentResponses.push(res.status));
  const errors = [];
  client.on('error', (e) => errors.push(e));
  const done = segmentCalls.map(({ type, args, ts }) => new Promise((resolve, reject) => {
    client[type]({ ...args, timestamp: ts }, (err) => (err ? reject(err) : resolve()));
  }));
  await client.closeAndFlush({ timeout: 30000 });
  await Promise.all(done);
  assert.deepEqual(errors, []);
  assert.ok(segmentResponses.length >= N_SEGMENT / 20, `expected ≥10 requests, saw ${segmentResponses.length}`);
  assert.ok(segmentResponses.every((s) => s === 200), `statuses: ${segmentResponses}`);
  for (const c of segmentCalls) assert.ok(wire.has(c.messageId), `segment never sent ${c.messageId}`);
});

test('RudderStack rudder-sdk-node delivers its gzipped, form-labelled batches', { timeout: 60000 }, async () => {
  const client = new RudderAnalytics(WRITE_KEY, {
    dataPlaneUrl: srv.url, flushAt: 20, flushInterval: 100, retryCount: 2, logLevel: 'error', timeout: 10000,
  });
  // Watch the wire: decode the gzip body the SDK actually sent (the response
  // interceptor sees the request config after axios set its headers).
  client.axiosInstance.interceptors.response.use((res) => {
    const config = res.config;
    const h = typeof config.headers?.toJSON === 'function' ? config.headers.toJSON() : { ...config.headers };
    const enc = h['Content-Encoding'] ?? h['content-encoding'];
    const raw = Buffer.isBuffer(config.data) ? config.data : Buffer.from(String(config.data));
    const body = JSON.parse(enc === 'gzip' ? gunzipSync(raw).toString('utf8') : raw.toString('utf8'));
    for (const e of body.batch) wire.set(e.messageId, { sdk: 'rudder', event: e, batch: body });
    rudderRequests.push({ headers: h, events: body.batch.length, status: res.status });
    return res;
  });
  const done = rudderCalls.map(({ type, args, ts }) => new Promise((resolve, reject) => {
    client[type]({ ...args, originalTimestamp: ts }, (err) => (err ? reject(err) : resolve()));
  }));
  await Promise.all(done);
  await client.flush();
  assert.ok(rudderRequests.length >= N_RUDDER / 20, `expected ≥10 requests, saw ${rudderRequests.length}`);
  assert.equal(rudderRequests[0].events, 1, 'the first event is flushed alone');
  for (const r of rudderRequests) {
    assert.equal(r.status, 200);
    assert.equal(r.headers['Content-Encoding'] ?? r.headers['content-encoding'], 'gzip');
  }
  const ct = String(rudderRequests[0].headers['Content-Type'] ?? rudderRequests[0].headers['content-type'] ?? '');
  assert.match(ct, /x-www-form-urlencoded/, 'the SDK labels its JSON as a form (Sluice must ignore content-type)');
  for (const c of rudderCalls) assert.ok(wire.has(c.messageId), `rudder never sent ${c.messageId}`);
});

async function post(path, body, { key = WRITE_KEY, headers = {}, gzip = false } = {}) {
  let data = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const h = { 'content-type': 'application/json', ...headers };
  if (key !== null) h.authorization = basicAuth(key);
  if (gzip) { data = gzipSync(data); h['content-encoding'] = 'gzip'; }
  const res = await fetch(srv.url + path, { method: 'POST', headers: h, body: data });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

test('raw: single calls, writeKey in body, gzip', async () => {
  rawIds.track = `raw-track-${RUN}`;
  let r = await post('/v1/track', { userId: 'raw-u', event: 'Raw Track', messageId: rawIds.track, properties: { s: TRICKY } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { success: true });

  rawIds.bodyKey = `raw-bodykey-${RUN}`;
  r = await post('/v1/identify', { userId: 'raw-u', writeKey: OTHER_KEY, messageId: rawIds.bodyKey, traits: { a: 1 } }, { key: null });
  assert.equal(r.status, 200, r.text);

  rawIds.gzip = `raw-gzip-${RUN}`;
  r = await post('/v1/page', { anonymousId: 'raw-a', name: 'Gz', messageId: rawIds.gzip, properties: { s: TRICKY } }, { gzip: true });
  assert.equal(r.status, 200, r.text);
});

test('raw: unknown write key → 401, missing key → 401', async () => {
  let r = await post('/v1/track', { userId: 'u', event: 'E', messageId: `raw-401-${RUN}` }, { key: 'not-a-key' });
  assert.equal(r.status, 401, r.text);
  r = await post('/v1/batch', { batch: [{ type: 'track', userId: 'u', event: 'E', messageId: `raw-401b-${RUN}` }] }, { key: null });
  assert.equal(r.status, 401, r.text);
  r = await post('/v1/track', { userId: 'u', event: 'E', writeKey: 'nope', messageId: `raw-401c-${RUN}` }, { key: null });
  assert.equal(r.status, 401, r.text);
});

test('raw: malformed JSON → 400 with a JSON body naming the problem', async () => {
  for (const [path, body] of [
    ['/v1/batch', '{"batch":[{"type":"track",'],
    ['/v1/track', 'not json at all'],
    ['/v1/batch', '{"batch":{"not":"an array"}}'],
    ['/v1/track', '["an","array"]'],
  ]) {
    const r = await post(path, body);
    assert.equal(r.status, 400, `${path} ${body}: ${r.status} ${r.text}`);
    assert.ok(r.json && typeof r.json === 'object', `400 body is not JSON: ${r.text}`);
    assert.ok(r.text.length > 15, `400 body should name the problem: ${r.text}`);
  }
  // A single call whose envelope is invalid is refused as a whole.
  const r = await post('/v1/track', { userId: 'u', messageId: `raw-noevent-${RUN}` });
  assert.equal(r.status, 400, r.text);
  assert.ok(r.json && typeof r.json === 'object', r.text);
});

test('raw: an event over 32 KB → 413', async () => {
  const r = await post('/v1/track', { userId: 'u', event: 'Big', messageId: `raw-413-${RUN}`, properties: { blob: 'x'.repeat(40 * 1024) } });
  assert.equal(r.status, 413, r.text);
});

test('raw: X-Sluice-Outcomes: 1 reports each event', async () => {
  rawIds.ok1 = `raw-out-ok1-${RUN}`;
  rawIds.bad = `raw-out-bad-${RUN}`;
  rawIds.ok2 = `raw-out-ok2-${RUN}`;
  const body = { batch: [
    { type: 'track', userId: 'u', event: 'Fine', messageId: rawIds.ok1 },
    { type: 'track', userId: 'u', messageId: rawIds.bad },            // no `event`: quarantined
    { type: 'identify', anonymousId: 'a', messageId: rawIds.ok2, traits: { x: 1 } },
  ] };
  const plain = await post('/v1/batch', { batch: [{ type: 'track', userId: 'u', event: 'Plain', messageId: `raw-plain-${RUN}` }] });
  assert.deepEqual(plain.json, { success: true });
  const r = await post('/v1/batch', body, { headers: { 'X-Sluice-Outcomes': '1' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json?.success, true, r.text);
  const arr = Object.values(r.json).find((v) => Array.isArray(v));
  assert.ok(arr, `no outcomes array in ${r.text}`);
  assert.equal(arr.length, 3, r.text);
  const s = arr.map((o) => JSON.stringify(o));
  assert.notEqual(s[1], s[0], `the quarantined event's outcome should differ: ${r.text}`);
  assert.equal(s[0], s[2], r.text);
});

test('stop cleanly and dump the log', async () => {
  const { code, signal } = await srv.stop();
  stoppedAt = Date.now();
  assert.equal(signal, null, `server died by ${signal}; stderr:\n${srv.stderr()}`);
  assert.equal(code, 0, `server exit code ${code}; stderr:\n${srv.stderr()}`);
  records = await logDump(dataDir);
  for (const r of records) {
    assert.ok(r.messageId, `record without messageId: ${JSON.stringify(r)}`);
    if (!byId.has(r.messageId)) byId.set(r.messageId, []);
    byId.get(r.messageId).push(r);
  }
  const offsets = records.map((r) => r.logOffset);
  assert.ok(offsets.every((o) => Number.isInteger(o) || /^\d+$/.test(String(o))), 'logOffset present on every record');
  assert.equal(new Set(offsets.map(String)).size, offsets.length, 'logOffset is unique');
});

function one(id) {
  const rs = byId.get(id) ?? [];
  assert.equal(rs.length, 1, `${id}: expected exactly one log record, found ${rs.length}`);
  return rs[0];
}

function checkSdkEvent(c) {
  const rec = one(c.messageId);
  const { event: w, batch, sdk } = wire.get(c.messageId);
  const where = `${sdk} ${c.type} ${c.messageId}`;
  assert.equal(rec.type, c.type, where);
  assert.equal(rec.source, WRITE_KEY, where);
  assert.equal(rec.violations, undefined, `${where}: quarantined: ${JSON.stringify(rec.violations)}`);
  assert.equal(rec.messageIdAssigned, undefined, where);
  assert.equal(rec.userId, c.args.userId, where);
  assert.equal(rec.anonymousId, c.args.anonymousId, where);
  if (c.type === 'track') assert.equal(rec.event, c.args.event, where);
  if (c.type === 'page' || c.type === 'screen') assert.equal(rec.name, c.args.name, where);
  if (c.type === 'group') assert.equal(rec.groupId, c.args.groupId, where);
  if (c.type === 'alias') assert.equal(rec.previousId, c.args.previousId, where);

  // JSON fields: exactly what was on the wire, and what the caller passed.
  for (const k of ['properties', 'traits', 'context', 'integrations']) {
    assert.deepEqual(rec[k], w[k], `${where}: ${k} differs from the wire`);
  }
  if (c.args.properties) assert.deepEqual(rec.properties, c.args.properties, `${where}: properties`);
  if (c.args.traits) assert.deepEqual(rec.traits, c.args.traits, `${where}: traits`);
  for (const [k, v] of Object.entries(c.args.context)) assert.deepEqual(rec.context[k], v, `${where}: context.${k}`);
  if (c.args.integrations) assert.deepEqual(rec.integrations, c.args.integrations, `${where}: integrations`);
  const extra = Object.fromEntries(Object.entries(w).filter(([k]) => !KNOWN_KEYS.has(k)));
  assert.deepEqual(rec.extra ?? {}, extra, `${where}: extra holds the other top-level fields`);

  // Times: originalTimestamp is the client's event time (Segment sends it as
  // `timestamp`, RudderStack as `originalTimestamp`); timestamp is corrected
  // for clock skew: receivedAt − (sentAt − originalTimestamp).
  assert.ok(rec.originalTimestamp, `${where}: no originalTimestamp`);
  assert.equal(isoMicros(rec.originalTimestamp), BigInt(c.ts.getTime()) * 1000n, `${where}: originalTimestamp ${rec.originalTimestamp} ≠ ${c.ts.toISOString()}`);
  // The event's own sentAt (RudderStack sets one per event) or the batch's.
  assert.ok(rec.sentAt, `${where}: no sentAt`);
  const sentCandidates = [w.sentAt, batch.sentAt].filter(Boolean).map((s) => isoMicros(String(s)));
  assert.ok(sentCandidates.includes(isoMicros(rec.sentAt)), `${where}: sentAt ${rec.sentAt} is neither the event's nor the batch's (${[w.sentAt, batch.sentAt]})`);
  const recv = isoMicros(rec.receivedAt);
  assert.ok(recv >= BigInt(startedAt - 1000) * 1000n && recv <= BigInt(stoppedAt + 1000) * 1000n, `${where}: receivedAt ${rec.receivedAt} outside the run`);
  const expectTs = recv - (isoMicros(rec.sentAt) - isoMicros(rec.originalTimestamp));
  assert.equal(isoMicros(rec.timestamp), expectTs, `${where}: timestamp ${rec.timestamp} ≠ receivedAt − (sentAt − originalTimestamp)`);
}

test('every Segment SDK event is in the log exactly once, intact', () => {
  assert.ok(records, 'log not dumped');
  for (const c of segmentCalls) checkSdkEvent(c);
});

test('every RudderStack SDK event is in the log exactly once, intact', () => {
  assert.ok(records, 'log not dumped');
  for (const c of rudderCalls) checkSdkEvent(c);
});

test('raw events: accepted and quarantined ones are logged once; refused ones never', () => {
  assert.ok(records, 'log not dumped');
  const t = one(rawIds.track);
  assert.equal(t.event, 'Raw Track');
  assert.deepEqual(t.properties, { s: TRICKY });
  assert.equal(t.source, WRITE_KEY);
  const b = one(rawIds.bodyKey);
  assert.equal(b.source, OTHER_KEY, 'writeKey from the body is the source');
  assert.equal(b.type, 'identify');
  const g = one(rawIds.gzip);
  assert.equal(g.type, 'page');
  assert.deepEqual(g.properties, { s: TRICKY });
  assert.equal(one(rawIds.ok1).violations, undefined);
  assert.equal(one(rawIds.ok2).violations, undefined);
  const bad = one(rawIds.bad);
  assert.ok(Array.isArray(bad.violations) && bad.violations.length > 0, `quarantined event keeps its reasons: ${JSON.stringify(bad)}`);
  for (const id of [`raw-401-${RUN}`, `raw-401b-${RUN}`, `raw-401c-${RUN}`, `raw-noevent-${RUN}`, `raw-413-${RUN}`]) {
    assert.equal(byId.get(id), undefined, `${id} was refused but is in the log`);
  }
  const expected = N_SEGMENT + N_RUDDER + 7;
  assert.equal(records.length, expected, `log holds ${records.length} records, expected ${expected}`);
});
