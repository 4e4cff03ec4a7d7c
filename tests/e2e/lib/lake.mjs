// Reading Sluice's lake the way outside tools do: the Delta log replayed in
// plain JS (which files are live at a version), then the Parquet files read
// by two independent readers — DuckDB (@duckdb/node-api) and hyparquet.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetReadObjects, asyncBufferFromFile } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

// Replays DATA/lake/<table>/_delta_log up to `version` (default: latest).
// Returns { version, files: Map(path → add), txn: Map(appId → version), commits }.
export function deltaSnapshot(tableRoot, version = Infinity) {
  const logDir = path.join(tableRoot, '_delta_log');
  const versions = existsSync(logDir)
    ? readdirSync(logDir).filter((f) => /^\d{20}\.json$/.test(f)).map((f) => Number(f.slice(0, 20))).sort((a, b) => a - b)
    : [];
  const files = new Map();
  const txn = new Map();
  const commits = [];
  let at = -1;
  for (const v of versions) {
    if (v > version) break;
    if (v !== at + 1) throw new Error(`${logDir}: version ${at + 1} missing`);
    at = v;
    const actions = readFileSync(path.join(logDir, `${String(v).padStart(20, '0')}.json`), 'utf8')
      .split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    commits.push(actions);
    for (const a of actions) {
      if (a.remove) files.delete(a.remove.path);
      if (a.add) files.set(a.add.path, a.add);
      if (a.txn) txn.set(a.txn.appId, a.txn.version);
    }
  }
  return { version: at, files, txn, commits };
}

export const lakeTable = (dataDir, table) => path.join(dataDir, 'lake', table);

// Rows of the live files, through DuckDB. `select` is the column list
// (default: every column, timestamps also as epoch microseconds).
export async function readWithDuckDB(dataDir, table, { version, select } = {}) {
  const root = lakeTable(dataDir, table);
  const snap = deltaSnapshot(root, version);
  if (snap.files.size === 0) return [];
  const list = [...snap.files.keys()].map((p) => `'${path.join(root, p).replaceAll("'", "''")}'`).join(', ');
  const cols = select ?? `*, epoch_us(timestamp)::VARCHAR AS timestamp_us, epoch_us(original_timestamp)::VARCHAR AS original_timestamp_us,
    epoch_us(sent_at)::VARCHAR AS sent_at_us, epoch_us(received_at)::VARCHAR AS received_at_us`;
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const reader = await conn.runAndReadAll(`SELECT ${cols} FROM read_parquet([${list}], hive_partitioning=true) ORDER BY log_offset`);
    return reader.getRowObjectsJson();
  } finally {
    conn.closeSync?.();
  }
}

// Rows of the live files, through hyparquet (partition columns added from
// the Delta add action, as a Delta reader does).
export async function readWithHyparquet(dataDir, table, { version } = {}) {
  const root = lakeTable(dataDir, table);
  const snap = deltaSnapshot(root, version);
  const rows = [];
  for (const [p, add] of snap.files) {
    const file = await asyncBufferFromFile(path.join(root, p));
    for (const r of await parquetReadObjects({ file, compressors })) rows.push({ ...r, ...add.partitionValues });
  }
  rows.sort((a, b) => (a.log_offset < b.log_offset ? -1 : a.log_offset > b.log_offset ? 1 : 0));
  return rows;
}
