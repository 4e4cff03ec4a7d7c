#!/usr/bin/env node
// Writes a deterministic corpus of realistic Segment events as NDJSON (one
// event per line, each with its "type"), ~700 bytes per event on average:
// a track / page / identify mix from a pool of users (with anonymousIds),
// e-commerce properties and a browser-like context. Same seed, same bytes.
//
// Optionally also writes wrk request bodies for POST /v1/batch: one JSON
// body per line, BATCH events each, whose messageIds start with a 12-char
// placeholder "@@@@@@@@@@@@" that bench/batch.lua replaces per request so that
// every request carries unique messageIds.
//
//   node bench/gen_corpus.mjs [--events N] [--seed S] [--out FILE]
//                             [--bodies FILE] [--body-count K] [--batch 100]
import fs from 'node:fs';
import path from 'node:path';

function parseArgs(argv) {
  const o = { events: 1_000_000, seed: 42, out: 'bench/out/corpus.ndjson', bodies: null, bodyCount: 200, batch: 100 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--events' || a === '-n') o.events = Number(v());
    else if (a === '--seed') o.seed = Number(v());
    else if (a === '--out' || a === '-o') o.out = v();
    else if (a === '--bodies') o.bodies = v();
    else if (a === '--body-count') o.bodyCount = Number(v());
    else if (a === '--batch') o.batch = Number(v());
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument ${a}`);
  }
  for (const k of ['events', 'seed', 'bodyCount', 'batch']) {
    if (!Number.isInteger(o[k]) || o[k] < 0) usage(`--${k} must be a non-negative integer`);
  }
  return o;
}

function usage(msg) {
  if (msg) console.error(`gen_corpus: ${msg}`);
  console.error('usage: node bench/gen_corpus.mjs [--events N] [--seed S] [--out FILE] [--bodies FILE] [--body-count K] [--batch B]');
  process.exit(msg ? 2 : 0);
}

// xoshiro128** — small, fast, deterministic across platforms.
function rng(seed) {
  let a = 0x9e3779b9 ^ seed, b = 0x243f6a88 ^ (seed * 7), c = 0xb7e15162, d = 0x12345678 ^ (seed >>> 3);
  const next = () => {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = rotl(d, 11);
    return r;
  };
  for (let i = 0; i < 16; i++) next();
  return {
    u32: next,
    float: () => next() / 4294967296,
    int: (n) => Math.floor((next() / 4294967296) * n),
    pick: (arr) => arr[Math.floor((next() / 4294967296) * arr.length)],
  };
}
function rotl(x, k) { return (x << k) | (x >>> (32 - k)); }
const hex = (n, w) => (n >>> 0).toString(16).padStart(w, '0').slice(-w);

const CATEGORIES = ['Electronics', 'Books', 'Home & Kitchen', 'Toys & Games', 'Clothing', 'Beauty', 'Sports & Outdoors', 'Grocery', 'Garden', 'Automotive'];
const ADJ = ['Wireless', 'Organic', 'Premium', 'Compact', 'Vintage', 'Smart', 'Ergonomic', 'Classic', 'Ultra', 'Eco'];
const NOUN = ['Headphones', 'Coffee Maker', 'Backpack', 'Desk Lamp', 'Running Shoes', 'Novel', 'Blender', 'Yoga Mat', 'Water Bottle', 'Keyboard', 'Tea Set', 'Puzzle'];
const CURRENCIES = ['USD', 'USD', 'USD', 'EUR', 'EUR', 'GBP', 'JPY', 'CAD'];
const LOCALES = ['en-US', 'en-US', 'en-GB', 'de-DE', 'fr-FR', 'es-ES', 'ja-JP', 'pt-BR'];
const TRACK_EVENTS = ['Product Viewed', 'Product Viewed', 'Product Viewed', 'Product Added', 'Product Clicked', 'Cart Viewed', 'Checkout Started', 'Order Completed', 'Products Searched', 'Signed In'];
const PAGES = [
  ['/', 'Home | Shop'], ['/search', 'Search results | Shop'], ['/cart', 'Your cart | Shop'], ['/checkout', 'Checkout | Shop'],
  ['/account', 'My account | Shop'], ['/deals', "Today's deals | Shop"], ['/blog/spring-guide', 'Spring buying guide | Shop'],
];
const REFERRERS = ['https://www.google.com/', 'https://www.bing.com/', 'https://duckduckgo.com/', 'https://t.co/xyz', 'https://news.ycombinator.com/', '', '', ''];
const UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
];
const FIRST = ['Ana', 'Ben', 'Chloé', 'Dmitri', 'Emma', 'Farah', 'Göran', 'Hiro', 'Isabel', 'José', 'Kwame', 'Lena', 'Mei', 'Noah', 'Olga', 'Priya'];
const LAST = ['Smith', 'García', 'Müller', 'Tanaka', 'Okafor', 'Rossi', 'Nowak', 'Dubois', 'Silva', 'Kim', 'Andersen', 'Haddad'];

const N_USERS = 50_000;

function makeUser(r, i) {
  return {
    userId: `user_${String(i).padStart(6, '0')}`,
    anonymousId: `${hex(r.u32(), 8)}-${hex(r.u32(), 4)}-4${hex(r.u32(), 3)}-${hex((r.u32() & 0x3fff) | 0x8000, 4)}-${hex(r.u32(), 8)}${hex(r.u32(), 4)}`,
    ip: `${10 + r.int(200)}.${r.int(256)}.${r.int(256)}.${1 + r.int(254)}`,
    ua: r.pick(UAS),
    locale: r.pick(LOCALES),
    first: r.pick(FIRST),
    last: r.pick(LAST),
    known: r.float() < 0.7, // has logged in: events carry userId
  };
}

function product(r) {
  const idn = r.int(100_000);
  const price = Math.round((2 + r.float() * 400) * 100) / 100;
  return {
    product_id: `prod_${String(idn).padStart(6, '0')}`,
    sku: `SKU-${hex(idn * 2654435761, 8).toUpperCase()}`,
    name: `${r.pick(ADJ)} ${r.pick(NOUN)}`,
    category: r.pick(CATEGORIES),
    price,
    quantity: 1 + r.int(3),
    currency: r.pick(CURRENCIES),
  };
}

// messageIds: a random UUID whose last group is the event's index, so every
// id in the corpus is distinct.
function messageId(r, i) {
  return `${hex(r.u32(), 8)}-${hex(r.u32(), 4)}-4${hex(r.u32(), 3)}-${hex((r.u32() & 0x3fff) | 0x8000, 4)}-${i.toString(16).padStart(12, '0')}`;
}

function makeEvent(r, users, i, clock) {
  const u = users[r.int(users.length)];
  clock.t += 1 + r.int(40); // ~20 ms apart on average
  const ts = new Date(clock.t);
  const sent = new Date(clock.t + 50 + r.int(3000));
  const [pathName, title] = r.pick(PAGES);
  const ref = r.pick(REFERRERS);
  const context = {
    library: { name: 'analytics.js', version: '5.2.1' },
    page: { path: pathName, referrer: ref, title, url: `https://shop.example.com${pathName}`},
    userAgent: u.ua,
    ip: u.ip,
    locale: u.locale,
  };
  const x = r.float();
  const ev = {};
  if (x < 0.6) {
    ev.type = 'track';
    ev.event = r.pick(TRACK_EVENTS);
  } else if (x < 0.9) {
    ev.type = 'page';
    ev.name = title.split(' | ')[0];
  } else {
    ev.type = 'identify';
  }
  ev.messageId = messageId(r, i);
  if (u.known || ev.type === 'identify') ev.userId = u.userId;
  ev.anonymousId = u.anonymousId;
  ev.timestamp = ts.toISOString();
  ev.sentAt = sent.toISOString();
  if (ev.type === 'track') {
    const p = product(r);
    if (ev.event === 'Order Completed' || ev.event === 'Checkout Started') {
      const q = product(r);
      ev.properties = {
        order_id: `ord_${hex(r.u32(), 8)}`,
        total: Math.round((p.price * p.quantity + q.price * q.quantity) * 100) / 100,
        currency: p.currency,
        coupon: r.float() < 0.2 ? 'SPRING10' : null,
        products: [
          { product_id: p.product_id, price: p.price, quantity: p.quantity, category: p.category },
          { product_id: q.product_id, price: q.price, quantity: q.quantity, category: q.category },
        ],
      };
    } else if (ev.event === 'Products Searched') {
      ev.properties = { query: `${r.pick(ADJ).toLowerCase()} ${r.pick(NOUN).toLowerCase()}`, results: r.int(500), category: p.category };
    } else {
      ev.properties = p;
    }
  } else if (ev.type === 'page') {
    ev.properties = { path: pathName, referrer: ref, title, url: `https://shop.example.com${pathName}` };
  } else {
    ev.traits = {
      email: `${u.first.toLowerCase()}.${u.last.toLowerCase()}@example.com`.normalize('NFD').replace(/[\u0300-\u036f]/g, ''),
      firstName: u.first,
      lastName: u.last,
      plan: r.pick(['free', 'free', 'plus', 'pro']),
      createdAt: new Date(clock.t - r.int(400) * 86_400_000).toISOString(),
      address: { city: r.pick(['Berlin', 'Paris', 'Tokyo', 'São Paulo', 'Lagos', 'Austin']), country: r.pick(['DE', 'FR', 'JP', 'BR', 'NG', 'US']) },
    };
  }
  ev.context = context;
  return ev;
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const r = rng(o.seed);
  const users = Array.from({ length: N_USERS }, (_, i) => makeUser(r, i));
  const clock = { t: Date.UTC(2024, 4, 1, 0, 0, 0) };
  fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  const fd = fs.openSync(o.out, 'w');
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  let buf = [];
  let bufLen = 0;
  const bodyEvents = o.bodies ? o.bodyCount * o.batch : 0;
  const forBodies = [];
  for (let i = 0; i < o.events; i++) {
    const ev = makeEvent(r, users, i, clock);
    const line = JSON.stringify(ev) + '\n';
    buf.push(line);
    bufLen += line.length;
    if (i < bodyEvents) forBodies.push(ev);
    if (bufLen > 4 << 20) {
      const b = Buffer.from(buf.join(''), 'utf8');
      fs.writeSync(fd, b);
      bytes += b.length;
      buf = [];
      bufLen = 0;
    }
  }
  const b = Buffer.from(buf.join(''), 'utf8');
  fs.writeSync(fd, b);
  bytes += b.length;
  fs.closeSync(fd);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const avg = o.events ? bytes / o.events : 0;
  console.log(`gen_corpus: ${o.events} events, ${bytes} bytes (${(bytes / 1048576).toFixed(1)} MiB), avg ${avg.toFixed(1)} bytes/event, seed ${o.seed}, ${secs.toFixed(1)} s -> ${o.out}`);

  if (o.bodies) {
    // Bodies for POST /v1/batch: `batch` events each, sentAt at batch level.
    if (forBodies.length < bodyEvents) console.error(`gen_corpus: only ${forBodies.length} events for ${o.bodyCount} bodies`);
    const lines = [];
    let total = 0;
    for (let k = 0; k * o.batch < forBodies.length; k++) {
      const batch = forBodies.slice(k * o.batch, (k + 1) * o.batch).map((e, j) => {
        const { sentAt, ...rest } = e;
        return { ...rest, messageId: `@@@@@@@@@@@@-${String(j).padStart(3, '0')}-${e.messageId.slice(0, 23)}` };
      });
      const body = JSON.stringify({ batch, sentAt: forBodies[Math.min((k + 1) * o.batch, forBodies.length) - 1].sentAt });
      lines.push(body);
      total += Buffer.byteLength(body);
    }
    fs.mkdirSync(path.dirname(path.resolve(o.bodies)), { recursive: true });
    fs.writeFileSync(o.bodies, lines.join('\n') + '\n');
    console.log(`gen_corpus: ${lines.length} batch bodies of ${o.batch} events, avg ${(total / Math.max(lines.length, 1) / 1024).toFixed(1)} KiB/body -> ${o.bodies}`);
  }
}

main();
