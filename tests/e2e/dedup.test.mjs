// Deduplication end to end: the real Segment SDK re-sends events (same
// messageId, as its retries do) and re-sends payloads under new messageIds
// (as a double-firing tag does); the server is killed -9 and restarted in
// between. Every distinct event must be in the log exactly once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Analytics } from '@segment/analytics-node';
import { startServer, makeTempDir, cleanupTempDirs, logDump, basicAuth } from './lib/server.mjs';

after(cleanupTempDirs);

const WRITE_KEY = 'dedup-e2e';

async function sendWithSdk(url, events) {
  const analytics = new Analytics({ writeKey: WRITE_KEY, host: url, maxEventsInBatch: 25, flushInterval: 200 });
  for (const e of events) analytics.track(e);
  await analytics.closeAndFlush({ timeout: 20000 });
}

// The client's own event time is part of the payload: a re-send under a new
// messageId carries the same timestamp (only sentAt and the id are new).
const BASE = Date.now() - 60_000;
function order(i, messageId) {
  return {
    userId: `user-${i % 7}`, event: 'Order Completed', messageId, timestamp: new Date(BASE + i * 1000),
    properties: { order_id: `o-${i}`, total: i + 0.5 },
  };
}

test('SDK retries and re-sent payloads reach the log once, across kill -9', async () => {
  const dataDir = makeTempDir();
  let srv = await startServer({ dataDir, writeKeys: [WRITE_KEY] });
  const originals = Array.from({ length: 120 }, (_, i) => order(i, `orig-${i}`));
  await sendWithSdk(srv.url, originals);

  // Retries: the same messageIds again (what the SDK does after a timeout).
  await sendWithSdk(srv.url, originals.slice(0, 60));
  // Double-firing: same payloads, fresh messageIds (fingerprint window).
  await sendWithSdk(srv.url, originals.slice(60, 90).map((e, k) => ({ ...e, messageId: `refire-${k}` })));

  // kill -9, restart on the same data directory: the windows come back from the log.
  await srv.kill();
  srv = await startServer({ dataDir, writeKeys: [WRITE_KEY] });
  const r = await fetch(`${srv.url}/v1/batch`, {
    method: 'POST',
    headers: { authorization: basicAuth(WRITE_KEY), 'x-sluice-outcomes': '1' },
    body: JSON.stringify({ batch: originals.slice(90, 100).map((e) => ({ type: 'track', ...e })) }),
  });
  const body = await r.json();
  assert.equal(r.status, 200);
  assert.deepEqual(body.outcomes, Array(10).fill('duplicate:message_id'));
  // New events after the restart are still accepted.
  await sendWithSdk(srv.url, [order(1000, 'after-restart')]);
  await srv.stop();

  const records = await logDump(dataDir);
  const ids = records.map((x) => x.messageId);
  assert.equal(new Set(ids).size, ids.length, 'a messageId appears twice');
  const orders = records.map((x) => x.properties.order_id);
  assert.equal(new Set(orders).size, orders.length, 'an order appears twice');
  assert.equal(records.length, 121);
  for (const e of originals) assert.ok(ids.includes(e.messageId), `missing ${e.messageId}`);
});
