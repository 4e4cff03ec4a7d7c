#!/usr/bin/env node
// Writes the quality-gate benchmark inputs (bench/quality.sh): a tracking plan
// of 10 event schemas (JSON Schema 2020-12 for each event's `properties`:
// 5–15 properties, required lists, enums, numeric ranges, string lengths and
// patterns, formats, nested objects and arrays), and N events as NDJSON
// ({"event": name, "properties": {...}}), about 5 % of them invalid in one
// way (wrong type, out of range, unknown enum value, missing required,
// extra property where additionalProperties is false). Same seed, same bytes.
//
//   node bench/gen_quality_events.mjs [--events N] [--seed S] [--plan FILE] [--out FILE]
import fs from 'node:fs';
import path from 'node:path';

const args = { events: 1_000_000, seed: 7, plan: 'bench/out/quality_plan.json', out: 'bench/out/quality_events.ndjson' };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in args)) throw new Error(`unknown flag ${process.argv[i]}`);
  args[key] = key === 'events' || key === 'seed' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

// mulberry32: small, seedable, good enough for test data.
let state = args.seed >>> 0;
function rand() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

const S = 'https://json-schema.org/draft/2020-12/schema';
const id = { type: 'string', minLength: 1, maxLength: 64 };
const money = { type: 'number', minimum: 0, maximum: 1000000 };
const currency = { type: 'string', enum: ['USD', 'EUR', 'GBP', 'JPY', 'CAD'] };
const product = {
  type: 'object',
  properties: {
    product_id: id, sku: { type: 'string', pattern: '^[A-Z]{3}-[0-9]{4}$' }, name: { type: 'string', maxLength: 200 },
    price: money, quantity: { type: 'integer', minimum: 1, maximum: 100 },
    category: { type: 'string', enum: ['shoes', 'shirts', 'hats', 'bags', 'books'] },
  },
  required: ['product_id', 'price', 'quantity'],
  additionalProperties: false,
};

const plan = {
  'Order Completed': {
    $schema: S, type: 'object',
    properties: {
      order_id: id, checkout_id: id, affiliation: { type: 'string', maxLength: 100 }, total: money, revenue: money,
      shipping: money, tax: money, discount: money, coupon: { type: ['string', 'null'], maxLength: 32 }, currency,
      products: { type: 'array', minItems: 1, maxItems: 50, items: product },
      payment_method: { enum: ['card', 'paypal', 'apple_pay', 'bank_transfer'] },
    },
    required: ['order_id', 'total', 'currency', 'products'],
  },
  'Product Viewed': {
    $schema: S, type: 'object',
    properties: { ...product.properties, brand: { type: 'string', maxLength: 100 }, url: { type: 'string', format: 'uri' },
      image_url: { type: 'string', format: 'uri' }, position: { type: 'integer', minimum: 0 } },
    required: ['product_id', 'price'],
  },
  'Product Added': {
    $schema: S, type: 'object',
    properties: { cart_id: id, ...product.properties, variant: { type: 'string', maxLength: 50 } },
    required: ['cart_id', 'product_id', 'quantity'],
    additionalProperties: false,
  },
  'Checkout Started': {
    $schema: S, type: 'object',
    properties: { checkout_id: id, value: money, currency, step: { type: 'integer', minimum: 1, maximum: 5 },
      shipping_method: { enum: ['standard', 'express', 'pickup'] } },
    required: ['checkout_id', 'value', 'currency'],
  },
  'Signed Up': {
    $schema: S, type: 'object',
    properties: { user_id: id, email: { type: 'string', format: 'email', maxLength: 254 },
      method: { enum: ['email', 'google', 'apple', 'github'] }, plan: { enum: ['free', 'pro', 'team', 'enterprise'] },
      referrer: { type: ['string', 'null'] }, age: { type: 'integer', minimum: 13, maximum: 120 },
      country: { type: 'string', pattern: '^[A-Z]{2}$' }, marketing_opt_in: { type: 'boolean' } },
    required: ['user_id', 'email', 'method'],
    additionalProperties: false,
  },
  'Page Viewed': {
    $schema: S, type: 'object',
    properties: { path: { type: 'string', pattern: '^/' }, url: { type: 'string', format: 'uri' }, title: { type: 'string', maxLength: 300 },
      referrer: { type: 'string' }, search: { type: 'string' }, load_ms: { type: 'number', minimum: 0, maximum: 600000 } },
    required: ['path', 'url'],
  },
  'Search Performed': {
    $schema: S, type: 'object',
    properties: { query: { type: 'string', minLength: 1, maxLength: 200 }, results: { type: 'integer', minimum: 0 },
      page: { type: 'integer', minimum: 1 }, filters: { type: 'array', maxItems: 20, items: { type: 'string' } },
      sort: { enum: ['relevance', 'price_asc', 'price_desc', 'newest'] } },
    required: ['query', 'results'],
  },
  'Subscription Renewed': {
    $schema: S, type: 'object',
    properties: { subscription_id: { type: 'string', format: 'uuid' }, plan: { enum: ['pro', 'team', 'enterprise'] },
      interval: { enum: ['month', 'year'] }, amount: money, currency, renewed_at: { type: 'string', format: 'date-time' },
      seats: { type: 'integer', minimum: 1, maximum: 10000 }, trial: { type: 'boolean' } },
    required: ['subscription_id', 'plan', 'interval', 'amount', 'currency', 'renewed_at'],
  },
  'Video Played': {
    $schema: S, type: 'object',
    properties: { video_id: id, position_s: { type: 'number', minimum: 0 }, duration_s: { type: 'number', exclusiveMinimum: 0 },
      quality: { enum: ['240p', '480p', '720p', '1080p', '4k'] }, muted: { type: 'boolean' }, volume: { type: 'integer', minimum: 0, maximum: 100 },
      full_screen: { type: 'boolean' }, ad_enabled: { type: 'boolean' }, session_id: id },
    required: ['video_id', 'position_s', 'duration_s'],
  },
  'Support Ticket Created': {
    $schema: S, type: 'object',
    properties: { ticket_id: id, priority: { enum: ['low', 'normal', 'high', 'urgent'] }, channel: { enum: ['email', 'chat', 'phone'] },
      subject: { type: 'string', minLength: 1, maxLength: 150 }, tags: { type: 'array', maxItems: 10, uniqueItems: true, items: { type: 'string', maxLength: 30 } },
      customer_email: { type: 'string', format: 'email' }, created_date: { type: 'string', format: 'date' },
      satisfaction: { type: ['integer', 'null'], minimum: 1, maximum: 5 }, sla_hours: { type: 'number', multipleOf: 0.5, minimum: 0 },
      agent_id: id, reopened: { type: 'boolean' } },
    required: ['ticket_id', 'priority', 'channel', 'subject'],
  },
};

// A valid value for a property schema (only the keywords used above).
function valueFor(s) {
  if (s.enum) return pick(s.enum);
  const type = Array.isArray(s.type) ? (rand() < 0.1 && s.type.includes('null') ? 'null' : s.type[0]) : s.type;
  switch (type) {
    case 'null': return null;
    case 'boolean': return rand() < 0.5;
    case 'integer': return int(s.minimum ?? 0, Math.min(s.maximum ?? 5000, 5000));
    case 'number': {
      if (s.multipleOf) return int(0, 96) * s.multipleOf;
      const lo = s.minimum ?? s.exclusiveMinimum ?? 0;
      return Math.round((lo + 0.01 + rand() * Math.min((s.maximum ?? 2000) - lo, 2000)) * 100) / 100;
    }
    case 'string': {
      if (s.format === 'email') return `user${int(1, 99999)}@example${int(1, 9)}.com`;
      if (s.format === 'uri') return `https://shop.example.com/p/${int(1, 99999)}?ref=${int(1, 99)}`;
      if (s.format === 'uuid') return '123e4567-e89b-42d3-a456-' + String(int(0, 999999999999)).padStart(12, '0');
      if (s.format === 'date-time') return `2026-${String(int(1, 12)).padStart(2, '0')}-${String(int(1, 28)).padStart(2, '0')}T12:${String(int(10, 59))}:00Z`;
      if (s.format === 'date') return `2026-0${int(1, 9)}-1${int(0, 9)}`;
      if (s.pattern === '^[A-Z]{3}-[0-9]{4}$') return `${pick(['ABC', 'XYZ', 'SHO'])}-${int(1000, 9999)}`;
      if (s.pattern === '^[A-Z]{2}$') return pick(['US', 'DE', 'FR', 'JP', 'BR']);
      if (s.pattern === '^/') return pick(['/', '/pricing', '/blog/post-' + int(1, 500), '/docs/start']);
      const words = ['alpha', 'bravo', 'delta', 'echo', 'kilo', 'lima', 'tango', 'zulu'];
      let out = pick(words) + '-' + int(1, 99999);
      if (s.maxLength) out = out.slice(0, s.maxLength);
      return out;
    }
    case 'array': {
      const n = int(s.minItems ?? 0, Math.min(s.maxItems ?? 4, 4));
      const items = [];
      for (let i = 0; i < n; i++) items.push(s.items.type === 'string' ? `t${i}-${int(1, 9)}` : valueFor(s.items));
      return items;
    }
    case 'object': {
      const o = {};
      for (const [k, v] of Object.entries(s.properties)) {
        if ((s.required ?? []).includes(k) || rand() < 0.7) o[k] = valueFor(v);
      }
      return o;
    }
  }
  throw new Error(`no generator for ${JSON.stringify(s)}`);
}

// One way to break an event, chosen at random.
function breakEvent(schema, props) {
  const keys = Object.keys(schema.properties);
  const k = pick(keys);
  const s = schema.properties[k];
  switch (int(0, 3)) {
    case 0: props[k] = s.type === 'string' ? 42 : 'not-a-' + (s.type ?? 'value'); break;
    case 1: if (schema.required.length) { delete props[pick(schema.required)]; break; } // fall through
    case 2: if (s.enum) { props[k] = 'unplanned'; break; } props[k] = s.type === 'integer' || s.type === 'number' ? -1e9 : [1]; break;
    default: props[k] = { unexpected: true }; props['unplanned_' + int(1, 9)] = 1;
  }
}

fs.mkdirSync(path.dirname(args.out), { recursive: true });
fs.writeFileSync(args.plan, JSON.stringify(plan, null, 1) + '\n');
const names = Object.keys(plan);
const fd = fs.openSync(args.out, 'w');
let buf = [];
for (let i = 0; i < args.events; i++) {
  const name = names[i % names.length];
  const props = valueFor(plan[name]);
  if (rand() < 0.05) breakEvent(plan[name], props);
  buf.push(JSON.stringify({ event: name, properties: props }));
  if (buf.length === 10000) { fs.writeSync(fd, buf.join('\n') + '\n'); buf = []; }
}
if (buf.length) fs.writeSync(fd, buf.join('\n') + '\n');
fs.closeSync(fd);
