// Monitoring end to end with a real Prometheus (Debian's `prometheus` and
// `promtool`), everything on loopback and in temp directories:
// - promtool accepts the shipped rules (deploy/prometheus/alerts.yml);
// - /metrics passes `promtool check metrics` and Prometheus scrapes it (target up);
// - a burst of duplicate events fires the built-in alert, delivered to a local
//   webhook receiver in both payload formats, and the shipped Prometheus rule.
// The shipped rules are used with their `for:` durations and rule-group
// interval shortened, so the test takes seconds, not minutes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  startServer, makeTempDir, cleanupTempDirs, freePort, basicAuth, sleep, repoRoot, runSluice,
} from './lib/server.mjs';

after(cleanupTempDirs);

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const RULES = path.join(repoRoot, 'deploy/prometheus/alerts.yml');
const WRITE_KEY = 'web';
const haveProm = existsSync(PROMETHEUS) && existsSync(PROMTOOL);
const skip = haveProm ? false : 'prometheus/promtool not installed (scripts/install-deps.sh)';

test('promtool check rules accepts deploy/prometheus/alerts.yml', { skip }, () => {
  const r = spawnSync(PROMTOOL, ['check', 'rules', RULES], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS: \d+ rules found/);
});

test('every query of deploy/grafana/sluice.json is valid PromQL', { skip }, () => {
  const dash = JSON.parse(readFileSync(path.join(repoRoot, 'deploy/grafana/sluice.json'), 'utf8'));
  const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
  assert.ok(exprs.length >= 10);
  // promtool parses rule expressions: each query becomes a recording rule,
  // with Grafana's variables replaced by what they expand to.
  const rules = ['groups:', '  - name: grafana', '    rules:', ...exprs.flatMap((e, i) => [
    `      - record: sluice:grafana_panel_${i}`,
    `        expr: ${JSON.stringify(e.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.*'))}`,
  ])].join('\n') + '\n';
  const dir = makeTempDir('sluice-grafana-');
  writeFileSync(path.join(dir, 'panels.yml'), rules);
  const r = spawnSync(PROMTOOL, ['check', 'rules', path.join(dir, 'panels.yml')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

// A webhook receiver: remembers every POST body by path.
async function startReceiver() {
  const received = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      try {
        received.push({ path: req.url, body: JSON.parse(body) });
        res.end('ok');
      } catch {
        res.statusCode = 400;
        res.end('not json');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { received, port: server.address().port, close: () => new Promise((r) => server.close(r)) };
}

async function startPrometheus(dir, sluicePort) {
  // The shipped rules with `for:` and the recording interval shortened.
  const rules = readFileSync(RULES, 'utf8').replace(/for: \d+[smh]/g, 'for: 0s').replace(/interval: \d+s/g, 'interval: 1s');
  writeFileSync(path.join(dir, 'rules.yml'), rules);
  writeFileSync(path.join(dir, 'prometheus.yml'), [
    'global:', '  scrape_interval: 1s', '  evaluation_interval: 1s',
    'rule_files:', `  - ${path.join(dir, 'rules.yml')}`,
    'scrape_configs:', '  - job_name: sluice', '    static_configs:', `      - targets: ['127.0.0.1:${sluicePort}']`,
  ].join('\n') + '\n');
  const port = await freePort();
  const proc = spawn(PROMETHEUS, [
    `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { stderr = (stderr + d).slice(-16384); });
  const exited = new Promise((r) => proc.once('exit', r));
  const url = `http://127.0.0.1:${port}`;
  const prom = {
    url,
    stderr: () => stderr,
    async api(p) {
      const r = await fetch(url + p, { signal: AbortSignal.timeout(2000) });
      return r.json();
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
    },
  };
  for (const deadline = Date.now() + 15000; ;) {
    if (proc.exitCode !== null) throw new Error(`prometheus exited early: ${stderr}`);
    try {
      const r = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) return prom;
    } catch {}
    if (Date.now() > deadline) {
      await prom.stop();
      throw new Error(`prometheus not ready: ${stderr}`);
    }
    await sleep(100);
  }
}

function batch(ids) {
  return JSON.stringify({
    batch: ids.map((id) => ({
      type: 'track', event: 'Order Completed', userId: `u-${id % 13}`, messageId: `m-${id}`,
      properties: { order_id: `o-${id}` },
    })),
  });
}

async function post(url, body) {
  const r = await fetch(`${url}/v1/batch`, { method: 'POST', headers: { authorization: basicAuth(WRITE_KEY) }, body });
  await r.arrayBuffer();
  assert.equal(r.status, 200);
}

test('a duplicate burst fires the built-in alert (webhooks) and the Prometheus rule', { skip, timeout: 90000 }, async () => {
  const dir = makeTempDir('sluice-prom-');
  const hook = await startReceiver();
  let srv;
  let prom;
  try {
    writeFileSync(path.join(dir, 'sluice.yml'), [
      'alerts:', '  interval: 1s', '  for: 2s',
      '  webhooks:',
      `    - url: http://127.0.0.1:${hook.port}/alertmanager`, '      format: alertmanager',
      `    - url: http://127.0.0.1:${hook.port}/slack`, '      format: slack',
      '  delivery: {initial_backoff_ms: 200}',
      '  duplicates: {min_events: 20}',
    ].join('\n') + '\n');
    srv = await startServer({ dataDir: path.join(dir, 'data'), writeKeys: [WRITE_KEY], args: ['--config', path.join(dir, 'sluice.yml')] });
    prom = await startPrometheus(dir, srv.port);

    // Ordinary traffic first: the duplicate-rate baseline learns it is ~0.
    let next = 0;
    const sendNew = () => {
      const ids = Array.from({ length: 20 }, () => next++);
      return post(srv.url, batch(ids));
    };
    for (let i = 0; i < 15; i++) {
      await sendNew();
      await sleep(200);
    }

    // The exposition parses and follows the naming conventions.
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
    for (const name of ['sluice_ingest_source_events_total', 'sluice_ingest_event_names_total',
      'sluice_ingest_late_events_total', 'sluice_disk_free_bytes', 'sluice_alerts']) {
      assert.match(metrics, new RegExp(`^# TYPE ${name} `, 'm'), `${name} missing from /metrics`);
    }

    // The burst: every request now re-sends already accepted events.
    let builtIn = false;
    let promFiring = false;
    let targetUp = false;
    const deadline = Date.now() + 45000;
    while (!(builtIn && promFiring && targetUp) && Date.now() < deadline) {
      for (let k = 0; k < 5; k++) await post(srv.url, batch(Array.from({ length: 20 }, (_, j) => (k * 20 + j) % next)));
      await sendNew();
      const am = hook.received.find((r) => r.path === '/alertmanager' && r.body.status === 'firing' &&
        r.body.alerts[0].labels.alertname === 'SluiceDuplicateRateHigh');
      const slack = hook.received.find((r) => r.path === '/slack' && /^\[FIRING\] SluiceDuplicateRateHigh source=web/.test(r.body.text));
      builtIn = Boolean(am && slack);
      if (!targetUp) {
        const targets = await prom.api('/api/v1/targets');
        const t = targets.data.activeTargets.find((x) => x.labels.job === 'sluice');
        if (t && t.lastError) assert.fail(`Prometheus cannot scrape Sluice: ${t.lastError}`);
        targetUp = Boolean(t && t.health === 'up');
      }
      const alerts = await prom.api('/api/v1/alerts');
      promFiring = alerts.data.alerts.some((a) => a.labels.alertname === 'SluiceDuplicateRateHigh' &&
        a.labels.source === WRITE_KEY && a.state === 'firing');
      await sleep(250);
    }
    assert.ok(targetUp, `Prometheus never scraped Sluice successfully; prometheus stderr:\n${prom.stderr()}`);
    assert.ok(builtIn, `no built-in SluiceDuplicateRateHigh notification reached the webhooks; got ${JSON.stringify(hook.received)}\nsluice stderr:\n${srv.stderr()}`);
    assert.ok(promFiring, `the Prometheus rule SluiceDuplicateRateHigh did not fire; alerts: ${JSON.stringify((await prom.api('/api/v1/alerts')).data)}`);

    const am = hook.received.find((r) => r.path === '/alertmanager').body;
    assert.equal(am.version, '4');
    assert.equal(am.alerts[0].labels.source, WRITE_KEY);
    assert.match(am.alerts[0].fingerprint, /^[0-9a-f]{16}$/);

    // GET /v1/alerts and `sluice alerts` list it as firing.
    const listed = await (await fetch(`${srv.url}/v1/alerts`)).json();
    assert.ok(listed.alerts.some((a) => a.alertname === 'SluiceDuplicateRateHigh' && a.state === 'firing'), JSON.stringify(listed));
    const cli = await runSluice(['alerts', '--url', srv.url]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^firing\s+SluiceDuplicateRateHigh\s+source=web/m);
  } finally {
    if (prom) await prom.stop();
    if (srv) await srv.stop();
    await hook.close();
  }
  // Unreachable server: exit 3.
  const down = await runSluice(['alerts', '--url', `http://127.0.0.1:${await freePort()}`]);
  assert.equal(down.code, 3);
});
