// Helpers for end-to-end tests: run the real `sluice` binary on a loopback
// port and a throw-away data directory, and read its log back.
//
//   const dir = await makeTempDir();
//   const srv = await startServer({ dataDir: dir, writeKeys: ['WK'] });
//   ... fetch(`${srv.url}/v1/track`, ...) ...
//   await srv.stop();                    // SIGTERM, waits for a clean exit
//   const records = await logDump(dir);  // one object per log record
//
// The binary is $SLUICE_BIN, or <repo>/build/sluice.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function sluiceBin() {
  return process.env.SLUICE_BIN ? path.resolve(process.env.SLUICE_BIN) : path.join(repoRoot, 'build', 'sluice');
}

export function haveSluice() {
  return existsSync(sluiceBin());
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function basicAuth(writeKey) {
  return 'Basic ' + Buffer.from(`${writeKey}:`).toString('base64');
}

// A loopback port nobody listens on right now (the OS picks it). Another
// process may still take it before the server binds; startServer retries.
export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

// A webhook receiver on a free loopback port: `posts` collects every POST's
// JSON body in arrival order; `url` is its base URL.
export async function startJsonReceiver() {
  const posts = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => { posts.push(JSON.parse(body)); res.end('ok'); });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { posts, url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

// Temp directories made here are removed by cleanupTempDirs() and, as a last
// resort, when the process exits. Set SLUICE_KEEP_TMP=1 to keep them.
const tempDirs = new Set();
export function makeTempDir(prefix = 'sluice-e2e-') {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}
export function cleanupTempDirs() {
  if (process.env.SLUICE_KEEP_TMP) return;
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}
const liveServers = new Set();
process.on('exit', () => {
  for (const s of liveServers) {
    try { s.proc.kill('SIGKILL'); } catch {}
  }
  cleanupTempDirs();
});

const STDERR_KEEP = 64 * 1024;

function waitExit(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  }
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
}

// Starts `sluice serve` and resolves once GET /readyz answers 200.
// Options: dataDir (required), writeKeys (array), port (default: a free one),
// args (extra CLI args), env, readyTimeoutMs (15 s).
// Returns { proc, pid, port, url, dataDir, stderr(), stdout(), exited, stop(), kill() }.
export async function startServer(opts) {
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startServerOnce(opts);
    } catch (e) {
      lastErr = e;
      // Retry only when the port was taken between freePort() and bind().
      if (opts.port || !/address already in use|EADDRINUSE|bind/i.test(String(e.message))) throw e;
    }
  }
  throw lastErr;
}

async function startServerOnce({ dataDir, writeKeys = [], port, args = [], env = {}, readyTimeoutMs = 15000 }) {
  if (!dataDir) throw new Error('startServer: dataDir is required');
  const bin = sluiceBin();
  if (!existsSync(bin)) throw new Error(`sluice binary not found at ${bin} (build it, or set SLUICE_BIN)`);
  port = port ?? (await freePort());
  const argv = ['serve', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`];
  for (const k of writeKeys) argv.push('--write-key', k);
  argv.push(...args);
  const proc = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  let stdout = '';
  proc.stderr.setEncoding('utf8');
  proc.stdout.setEncoding('utf8');
  proc.stderr.on('data', (d) => { stderr = (stderr + d).slice(-STDERR_KEEP); });
  proc.stdout.on('data', (d) => { stdout = (stdout + d).slice(-STDERR_KEEP); });
  const spawnError = new Promise((_, reject) => proc.once('error', reject));
  spawnError.catch(() => {});
  const exited = waitExit(proc);
  const url = `http://127.0.0.1:${port}`;
  const srv = {
    proc, pid: proc.pid, port, url, dataDir, exited, argv,
    stderr: () => stderr,
    stdout: () => stdout,
    running: () => proc.exitCode === null && proc.signalCode === null,
    // SIGTERM and wait for exit (timeoutMs, then SIGKILL and throw). Returns {code, signal}.
    async stop(timeoutMs = 15000) {
      liveServers.delete(srv);
      if (!srv.running()) return exited;
      proc.kill('SIGTERM');
      let timer;
      const t = new Promise((r) => { timer = setTimeout(() => r('timeout'), timeoutMs); });
      const r = await Promise.race([exited, t]);
      clearTimeout(timer);
      if (r === 'timeout') {
        proc.kill('SIGKILL');
        await exited;
        throw new Error(`sluice did not exit within ${timeoutMs} ms of SIGTERM; killed. stderr:\n${stderr}`);
      }
      return r;
    },
    // kill -9 and wait for the process to be gone.
    async kill() {
      liveServers.delete(srv);
      if (srv.running()) proc.kill('SIGKILL');
      return exited;
    },
  };
  liveServers.add(srv);

  const deadline = Date.now() + readyTimeoutMs;
  let exitedEarly = false;
  exited.then(() => { exitedEarly = true; });
  while (true) {
    if (exitedEarly) {
      liveServers.delete(srv);
      const { code, signal } = await exited;
      throw new Error(`sluice serve exited before ready (code ${code}, signal ${signal}); argv: ${argv.join(' ')}\nstderr:\n${stderr}`);
    }
    if (Date.now() > deadline) {
      await srv.kill();
      throw new Error(`sluice serve not ready within ${readyTimeoutMs} ms on ${url}; stderr:\n${stderr}`);
    }
    try {
      const r = await Promise.race([
        fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }),
        spawnError,
      ]);
      await r.arrayBuffer();
      if (r.status === 200 && srv.running()) return srv;
    } catch (e) {
      if (e && e.code === 'ENOENT') throw e;
    }
    await sleep(50);
  }
}

// Runs `sluice ARGS...` to completion. input: string/Buffer for stdin.
// Returns { code, signal, stdout, stderr } (stdout as a string).
export async function runSluice(args, { input, env = {}, timeoutMs = 120000 } = {}) {
  const proc = spawn(sluiceBin(), args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const out = [];
  const err = [];
  proc.stdout.on('data', (d) => out.push(d));
  proc.stderr.on('data', (d) => err.push(d));
  proc.stdin.on('error', () => {});
  if (input !== undefined) proc.stdin.end(input); else proc.stdin.end();
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const [code, signal] = await Promise.race([
    once(proc, 'exit'),
    once(proc, 'error').then(([e]) => { throw e; }),
  ]);
  clearTimeout(timer);
  // 'exit' may fire before the pipes are drained.
  if (!proc.stdout.readableEnded) await once(proc.stdout, 'end').catch(() => {});
  if (!proc.stderr.readableEnded) await once(proc.stderr, 'end').catch(() => {});
  return { code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

// `sluice log dump --data-dir DIR` (the server must be stopped), parsed: one
// object per record, in log order. Throws on a non-zero exit or a line that
// is not JSON.
export async function logDump(dataDir, { onRecord } = {}) {
  const proc = spawn(sluiceBin(), ['log', 'dump', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { stderr = (stderr + d).slice(-STDERR_KEEP); });
  const exited = waitExit(proc);
  const records = [];
  const rl = createInterface({ input: proc.stdout, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of rl) {
      n++;
      if (line === '') continue;
      let rec;
      try {
        rec = JSON.parse(line);
      } catch (e) {
        throw new Error(`sluice log dump: line ${n} is not JSON (${e.message}): ${line.slice(0, 300)}`);
      }
      if (onRecord) onRecord(rec); else records.push(rec);
    }
  } catch (e) {
    proc.kill('SIGKILL');
    await exited;
    throw e;
  }
  const { code, signal } = await exited;
  if (code !== 0) throw new Error(`sluice log dump exited with code ${code} signal ${signal}; stderr:\n${stderr}`);
  return records;
}

// Equal as instants: both parse to the same millisecond (Date has ms
// resolution; for micro-precision compare isoMicros()).
export function isoMicros(s) {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)$/.exec(s);
  if (!m) throw new Error(`not an ISO-8601 timestamp: ${s}`);
  const whole = Date.parse(m[1] + m[3]);
  if (Number.isNaN(whole)) throw new Error(`not an ISO-8601 timestamp: ${s}`);
  const frac = (m[2] || '').padEnd(6, '0').slice(0, 6);
  return BigInt(whole) * 1000n + BigInt(frac);
}
