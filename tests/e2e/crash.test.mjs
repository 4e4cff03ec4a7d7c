// Crash safety (DESIGN §4 invariants 1 and 2): concurrent clients post
// batches while the server is killed with SIGKILL at a random moment. After
// recovery every acknowledged event is in the log exactly once; unacknowledged
// ones may or may not be there, but nothing is ever there twice and nothing
// appears that was never sent. The lake commits every second meanwhile, so
// kills land before, during and after Delta commits: after each recovery the
// lake holds exactly the log's events, each once. Five rounds on the same
// data directory.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  startServer, makeTempDir, cleanupTempDirs, logDump, basicAuth, haveSluice, sluiceBin, sleep,
} from './lib/server.mjs';
import { readWithDuckDB } from './lib/lake.mjs';

const WRITE_KEY = 'WK_e2e_crash';
const CLIENTS = Number(process.env.CRASH_CLIENTS ?? 8);
const BATCH = 20;
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 5);
const RUN = Date.now().toString(36);

let srv;
after(async () => {
  if (srv && srv.running()) await srv.kill();
  cleanupTempDirs();
});

function batchBody(round, client, seq) {
  const batch = [];
  for (let j = 0; j < BATCH; j++) {
    const messageId = `crash-${RUN}-r${round}-c${client}-s${seq}-e${j}`;
    batch.push({
      type: j % 4 === 3 ? 'identify' : 'track',
      ...(j % 4 === 3 ? { traits: { round, client, seq, j } } : { event: 'Crash Test', properties: { round, client, seq, j, s: 'café 🎉' } }),
      userId: `u-${client}-${j % 5}`,
      messageId,
      timestamp: new Date().toISOString(),
    });
  }
  return { batch, sentAt: new Date().toISOString() };
}

// One client: posts batches back to back until `state.stop`, records which
// messageIds were acknowledged (HTTP 200) and which were merely attempted.
async function client(round, id, state) {
  const headers = { 'content-type': 'application/json', authorization: basicAuth(WRITE_KEY) };
  for (let seq = 0; !state.stop; seq++) {
    const body = batchBody(round, id, seq);
    const ids = body.batch.map((e) => e.messageId);
    for (const m of ids) state.attempted.add(m);
    try {
      const res = await fetch(`${srv.url}/v1/batch`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10000) });
      const text = await res.text();
      if (res.status === 200) {
        for (const m of ids) state.acked.add(m);
        state.ok++;
      } else if (res.status === 429 || res.status === 503) {
        state.backpressure++;
      } else {
        state.unexpected.push(`${res.status} ${text.slice(0, 200)}`);
      }
    } catch {
      state.failed++; // the server was killed under this request
      if (!state.stop) await sleep(5);
    }
  }
}

test('kill -9 under load loses no acknowledged event and duplicates none', { timeout: 120000 }, async (t) => {
  assert.ok(haveSluice(), `sluice binary not found at ${sluiceBin()}; build it first (or set SLUICE_BIN)`);
  const home = makeTempDir('sluice-crash-');
  const dataDir = path.join(home, 'data');
  const config = path.join(home, 'sluice.yaml');
  writeFileSync(config, 'lake:\n  max_file_age: 1s\n  target_file_mb: 1\n');
  const args = ['--config', config];
  const acked = new Set();
  const attempted = new Set();
  for (let round = 1; round <= ROUNDS; round++) {
    srv = await startServer({ dataDir, writeKeys: [WRITE_KEY], args });
    const state = { stop: false, acked: new Set(), attempted: new Set(), ok: 0, failed: 0, backpressure: 0, unexpected: [] };
    const clients = Array.from({ length: CLIENTS }, (_, i) => client(round, i, state));
    const killAfter = 500 + Math.floor(Math.random() * 1500);
    await sleep(killAfter);
    await srv.kill();
    state.stop = true;
    await Promise.all(clients);
    for (const m of state.acked) acked.add(m);
    for (const m of state.attempted) attempted.add(m);
    t.diagnostic(`round ${round}: killed after ${killAfter} ms; ${state.ok} batches acknowledged (${state.acked.size} events), ` +
      `${state.failed} cut off, ${state.backpressure} back-pressure, ${state.attempted.size} events attempted`);
    assert.deepEqual(state.unexpected, [], `round ${round}: unexpected responses`);
    assert.ok(state.ok > 0, `round ${round}: no batch was acknowledged in ${killAfter} ms`);

    // Recovery: the server must come up on the crashed directory, then stop cleanly.
    const t0 = Date.now();
    srv = await startServer({ dataDir, writeKeys: [WRITE_KEY], args });
    const readyMs = Date.now() - t0;
    const { code, signal } = await srv.stop();
    assert.equal(signal, null, `round ${round}: server died by ${signal} after recovery; stderr:\n${srv.stderr()}`);
    assert.equal(code, 0, `round ${round}: exit code ${code} after recovery; stderr:\n${srv.stderr()}`);

    const counts = new Map();
    let lastOffset = -1n;
    let records = 0;
    const stray = [];
    await logDump(dataDir, {
      onRecord(r) {
        records++;
        counts.set(r.messageId, (counts.get(r.messageId) ?? 0) + 1);
        if (!attempted.has(r.messageId) && stray.length < 5) stray.push(r.messageId);
        const off = BigInt(r.logOffset);
        assert.ok(off > lastOffset, `round ${round}: logOffset not increasing (${lastOffset} then ${off})`);
        lastOffset = off;
        assert.equal(r.source, WRITE_KEY);
        assert.equal(r.violations, undefined, `quarantined: ${JSON.stringify(r)}`);
      },
    });
    const dups = [...counts].filter(([, n]) => n > 1);
    const lost = [...acked].filter((m) => !counts.has(m));
    t.diagnostic(`round ${round}: recovery ready in ${readyMs} ms; log holds ${records} records ` +
      `(${acked.size} acknowledged so far, ${records - [...counts.keys()].filter((m) => acked.has(m)).length} unacknowledged kept)`);
    assert.deepEqual(stray, [], `round ${round}: records that were never sent`);
    assert.deepEqual(dups.slice(0, 10), [], `round ${round}: ${dups.length} messageIds appear more than once`);
    assert.deepEqual(lost.slice(0, 10), [], `round ${round}: ${lost.length} acknowledged events lost`);

    // The lake (committed files only, per its Delta log) holds the log's events, each once.
    const lake = await readWithDuckDB(dataDir, 'events', { select: 'message_id, log_offset' });
    const inLake = new Map();
    for (const r of lake) inLake.set(r.message_id, (inLake.get(r.message_id) ?? 0) + 1);
    const lakeDups = [...inLake].filter(([, n]) => n > 1);
    const lakeMissing = [...counts.keys()].filter((m) => !inLake.has(m));
    const lakeStray = [...inLake.keys()].filter((m) => !counts.has(m));
    t.diagnostic(`round ${round}: lake holds ${lake.length} rows`);
    assert.deepEqual(lakeDups.slice(0, 10), [], `round ${round}: ${lakeDups.length} messageIds twice in the lake`);
    assert.deepEqual(lakeMissing.slice(0, 10), [], `round ${round}: ${lakeMissing.length} logged events missing from the lake`);
    assert.deepEqual(lakeStray.slice(0, 10), [], `round ${round}: lake rows not in the log`);
  }
});
