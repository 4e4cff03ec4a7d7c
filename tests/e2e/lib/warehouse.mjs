// Shared by the warehouse target tests (PostgreSQL, ClickHouse): the event
// set they load and a CSV reader for comparing each target with DuckDB.
import { writeFileSync } from 'node:fs';

// 400 events in hour 2024-03-05T10 over 9 users: identifies with traits,
// pages, tracks, orders with revenue, and a property with CSV/escape
// characters. `prefix` keeps messageIds apart per test.
export function writeWarehouseEvents(file, prefix) {
  const lines = [];
  for (let i = 0; i < 400; i++) {
    const user = `user-${i % 9}`;
    const ts = new Date(Date.UTC(2024, 2, 5, 10, 0, 0) + i * 8999).toISOString();
    if (i % 25 === 0) lines.push({ type: 'identify', userId: user, messageId: `${prefix}-${i}`, timestamp: ts, traits: { email: `${user}@example.com`, n: i } });
    else lines.push({ type: i % 7 ? 'track' : 'page', userId: user, messageId: `${prefix}-${i}`, timestamp: ts, event: i % 7 ? (i % 5 ? 'Product Viewed' : 'Order Completed') : undefined,
                      properties: { i, revenue: i % 5 ? undefined : i / 4, note: 'a,b "c" \\ `x`' } });
  }
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
}

// RFC 4180 CSV → rows of fields (DuckDB, psql --csv and ClickHouse's CSVWithNames write it).
export function parseCsv(text) {
  const rows = [];
  let row = [], field = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; } else field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}
