// Integration: the same models into a real PostgreSQL 15, started by this
// test on a free loopback port (initdb as the postgres user; needs root and
// /usr/lib/postgresql/15/bin, else skipped). Every shipped model must have
// the same rows in PostgreSQL as in DATA/warehouse.duckdb, and a rerun of the
// hour must leave them the same (idempotent delete-and-insert there too).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCsv, writeWarehouseEvents } from './lib/warehouse.mjs';
import { makeTempDir, cleanupTempDirs, freePort, haveSluice, sluiceBin, runSluice } from './lib/server.mjs';

const PGBIN = '/usr/lib/postgresql/15/bin';
const canRun = process.getuid?.() === 0 && existsSync(path.join(PGBIN, 'initdb'));
const MODELS = ['stg_events', 'sessions', 'user_daily_activity', 'user_profiles', 'segment_inputs', 'identity_map'];
let pgDir;
let port;
let dataDir;
let dsn;

function pgctl(args) {
  return spawnSync('runuser', ['-u', 'postgres', '--', path.join(PGBIN, 'pg_ctl'), ...args], { encoding: 'utf8' });
}

async function sluice(args, expectCode = 0) {
  const r = await runSluice(args);
  assert.equal(r.code, expectCode, `sluice ${args.join(' ')} → ${r.code}\n${r.stderr}\n${r.stdout}`);
  return r;
}

// One canonical text per row: numbers by value (1500 = 1500.0), t/f = true/false.
function canonical(rows) {
  return rows.slice(1).map((r) => r.map((v) => {
    if (/^-?\d+(\.\d+)?(e[-+]?\d+)?$/i.test(v)) return String(Number(v));
    if (v === 't') return 'true';
    if (v === 'f') return 'false';
    return v;
  }).join('\u0001')).sort();
}

async function compareModels() {
  for (const model of MODELS) {
    const duck = await sluice(['query', `SELECT * FROM ${model}`, '--limit', '1000000', '--data-dir', dataDir]);
    const pg = execFileSync('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '--csv', '-c', `SELECT * FROM ${model}`],
      { encoding: 'utf8', maxBuffer: 1 << 28 });
    const d = parseCsv(duck.stdout);
    const p = parseCsv(pg);
    assert.deepEqual(p[0], d[0], `${model}: columns differ`);
    assert.ok(d.length > 1, `${model}: no rows`);
    assert.deepEqual(canonical(p), canonical(d), `${model}: rows differ`);
  }
}

before(async () => {
  if (!canRun) return;
  assert.ok(haveSluice(), `sluice binary not found at ${sluiceBin()}`);
  port = await freePort();
  pgDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-pg-'));
  chownSync(pgDir, ...['postgres', 'postgres'].map((n) => Number(execFileSync('id', [n === 'postgres' ? '-u' : '-g', 'postgres'], { encoding: 'utf8' }))));
  execFileSync('runuser', ['-u', 'postgres', '--', path.join(PGBIN, 'initdb'), '-D', `${pgDir}/data`, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync'], { stdio: 'ignore' });
  const start = pgctl(['-D', `${pgDir}/data`, '-l', `${pgDir}/log`, '-w', '-t', '30', '-o',
    `-p ${port} -k ${pgDir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`, 'start']);
  assert.equal(start.status, 0, `pg_ctl start failed: ${start.stderr}`);
  dsn = `host=127.0.0.1 port=${port} user=postgres dbname=postgres`;

  const root = makeTempDir('sluice-wh-pg-');
  dataDir = path.join(root, 'data');
  const file = path.join(root, 'events.ndjson');
  writeWarehouseEvents(file, 'pg');
  await sluice(['import', file, '--data-dir', dataDir]);
  await sluice(['lake', 'flush', '--data-dir', dataDir]);
  // Builds the profiles (and the identity graph identity_map is read from): the identifies carry emails.
  await sluice(['profile', 'get', 'user-0', '--data-dir', dataDir]);
});

after(() => {
  if (pgDir) {
    pgctl(['-D', `${pgDir}/data`, '-m', 'fast', '-w', 'stop']);
    rmSync(pgDir, { recursive: true, force: true });
  }
  cleanupTempDirs();
});

test('the shipped models give the same rows in PostgreSQL as in DuckDB', { skip: !canRun && 'needs root and PostgreSQL 15' }, async () => {
  await sluice(['etl', 'run', '--hour', '2024-03-05T10', '--postgres', dsn, '--data-dir', dataDir]);
  await compareModels();
  // A forced rerun of the hour: delete-and-insert in PostgreSQL too, same rows.
  await sluice(['etl', 'run', '--hour', '2024-03-05T10', '--force', '--postgres', dsn, '--data-dir', dataDir]);
  await compareModels();
  const types = execFileSync('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-At', '-c',
    "SELECT data_type FROM information_schema.columns WHERE table_name = 'stg_events' AND column_name IN ('event_time', 'revenue', 'log_offset') ORDER BY column_name"],
  { encoding: 'utf8' });
  assert.deepEqual(types.trim().split('\n'), ['timestamp with time zone', 'bigint', 'double precision']);
});

test('an unreachable PostgreSQL is a runtime failure (exit 3)', { skip: !canRun && 'needs root and PostgreSQL 15' }, async () => {
  const closed = await freePort();
  const r = await sluice(['etl', 'run', '--force', '--postgres', `host=127.0.0.1 port=${closed} user=postgres connect_timeout=2`, '--data-dir', dataDir], 3);
  assert.match(r.stderr, /postgres/);
});
