// Integration: the same models into a real ClickHouse (Debian's 18.16),
// started by this test on free loopback ports from a throw-away config (the
// recipe in ENVIRONMENT.md; skipped when clickhouse-server is not installed).
// Every shipped model must have the same rows in ClickHouse as in
// DATA/warehouse.duckdb, also after a forced rerun of the hour (the
// partition of the hour is replaced, not appended to).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseCsv, writeWarehouseEvents } from './lib/warehouse.mjs';
import { makeTempDir, cleanupTempDirs, freePort, haveSluice, sluiceBin, runSluice, sleep } from './lib/server.mjs';

const canRun = spawnSync('which', ['clickhouse-server']).status === 0 && existsSync('/etc/clickhouse-server/users.xml');
const MODELS = ['stg_events', 'sessions', 'user_daily_activity', 'user_profiles', 'segment_inputs', 'identity_map'];
let server;
let url;
let dataDir;

async function sluice(args, expectCode = 0) {
  const r = await runSluice(args);
  assert.equal(r.code, expectCode, `sluice ${args.join(' ')} → ${r.code}\n${r.stderr}\n${r.stdout}`);
  return r;
}

async function clickhouse(sql) {
  const r = await fetch(url, { method: 'POST', body: sql });
  const text = await r.text();
  assert.equal(r.status, 200, `clickhouse: ${sql}\n${text}`);
  return text;
}

// One canonical text per row: numbers by value, booleans as 1/0 (ClickHouse
// stores UInt8), NULL (\N in ClickHouse) as empty, times as epoch microseconds
// (ClickHouse keeps them as 'YYYY-MM-DD hh:mm:ss.ffffff' text).
const TIME = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(\.(\d{1,6}))?(Z|\+00)?$/;
function canonical(rows) {
  return rows.slice(1).map((r) => r.map((v) => {
    if (v === '\\N') return '';
    const t = TIME.exec(v);
    if (t) return `${Date.parse(`${t[1]}T${t[2]}Z`) * 1000 + Number((t[4] ?? '').padEnd(6, '0'))}`;
    if (/^-?\d+(\.\d+)?(e[-+]?\d+)?$/i.test(v)) return String(Number(v));
    if (v === 'true') return '1';
    if (v === 'false') return '0';
    return v;
  }).join('\u0001')).sort();
}

async function compareModels() {
  for (const model of MODELS) {
    const duck = await sluice(['query', `SELECT * FROM ${model}`, '--limit', '1000000', '--data-dir', dataDir]);
    const ch = await clickhouse(`SELECT * FROM ${model} FORMAT CSVWithNames`);
    const d = parseCsv(duck.stdout);
    const c = parseCsv(ch);
    assert.deepEqual(c[0], d[0], `${model}: columns differ`);
    assert.ok(d.length > 1, `${model}: no rows`);
    assert.deepEqual(canonical(c), canonical(d), `${model}: rows differ`);
  }
}

async function waitReady() {
  for (let i = 0; i < 150; i++) {
    try {
      const r = await fetch(`${url}/ping`);
      if (r.ok) return;
    } catch {}
    if (server.exitCode !== null) break;
    await sleep(100);
  }
  throw new Error('clickhouse-server did not answer /ping');
}

before(async () => {
  if (!canRun) return;
  assert.ok(haveSluice(), `sluice binary not found at ${sluiceBin()}`);
  const dir = makeTempDir('sluice-ch-');
  for (const d of ['data', 'tmp', 'log', 'user_files', 'format_schemas']) mkdirSync(path.join(dir, d));
  copyFileSync('/etc/clickhouse-server/users.xml', path.join(dir, 'users.xml'));
  const httpPort = await freePort();
  const tcpPort = await freePort();
  writeFileSync(path.join(dir, 'config.xml'), `<?xml version="1.0"?><yandex>
 <logger><level>warning</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/error.log</errorlog></logger>
 <listen_host>127.0.0.1</listen_host><http_port>${httpPort}</http_port><tcp_port>${tcpPort}</tcp_port>
 <path>${dir}/data/</path><tmp_path>${dir}/tmp/</tmp_path><user_files_path>${dir}/user_files/</user_files_path>
 <format_schema_path>${dir}/format_schemas/</format_schema_path><users_config>${dir}/users.xml</users_config>
 <default_profile>default</default_profile><default_database>default</default_database>
 <timezone>UTC</timezone><mark_cache_size>268435456</mark_cache_size></yandex>\n`);
  server = spawn('clickhouse-server', [`--config-file=${dir}/config.xml`], { stdio: 'ignore' });
  url = `http://127.0.0.1:${httpPort}`;
  await waitReady();

  const root = makeTempDir('sluice-wh-ch-');
  dataDir = path.join(root, 'data');
  const file = path.join(root, 'events.ndjson');
  writeWarehouseEvents(file, 'ch');
  await sluice(['import', file, '--data-dir', dataDir]);
  await sluice(['lake', 'flush', '--data-dir', dataDir]);
  // Builds the profiles (and the identity graph identity_map is read from): the identifies carry emails.
  await sluice(['profile', 'get', 'user-0', '--data-dir', dataDir]);
});

after(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  cleanupTempDirs();
});

test('the shipped models give the same rows in ClickHouse as in DuckDB', { skip: !canRun && 'needs clickhouse-server' }, async () => {
  await sluice(['etl', 'run', '--hour', '2024-03-05T10', '--clickhouse', url, '--data-dir', dataDir]);
  await compareModels();
  // A forced rerun: the hour's partition and every table replaced, same rows.
  await sluice(['etl', 'run', '--hour', '2024-03-05T10', '--force', '--clickhouse', url, '--data-dir', dataDir]);
  await compareModels();
  const types = await clickhouse("SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 'stg_events'" +
    " AND name IN ('event_time', 'revenue', 'log_offset') ORDER BY name FORMAT TSV");
  assert.equal(types, 'event_time\tString\nlog_offset\tNullable(Int64)\nrevenue\tNullable(Float64)\n');
  const engines = await clickhouse("SELECT name, engine FROM system.tables WHERE database = currentDatabase() ORDER BY name FORMAT TSV");
  assert.equal(engines, MODELS.slice().sort().map((m) => `${m}\tMergeTree\n`).join(''), 'no staging tables are left behind');
  const partitions = await clickhouse("SELECT DISTINCT partition FROM system.parts WHERE table = 'stg_events' AND active FORMAT TSV");
  assert.equal(partitions, '2024-03-05 10\n');
});

test('an unreachable ClickHouse is a runtime failure (exit 3)', { skip: !canRun && 'needs clickhouse-server' }, async () => {
  const closed = await freePort();
  const r = await sluice(['etl', 'run', '--force', '--clickhouse', `http://127.0.0.1:${closed}`, '--data-dir', dataDir], 3);
  assert.match(r.stderr, /clickhouse/);
});
