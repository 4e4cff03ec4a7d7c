// The README's quickstart, run as written: every `curl` example with its
// `# expected output` comment, and the Segment SDK snippet, against a real
// `sluice serve`. If the README drifts from the behaviour, this fails.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { startServer, makeTempDir, cleanupTempDirs, logDump, repoRoot, haveSluice, sluiceBin } from './lib/server.mjs';

const run = promisify(execFile);
const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const README_URL = 'http://127.0.0.1:8080';

after(cleanupTempDirs);

// `curl …` commands (with `\` continuations) each followed by `# {json}`.
function curlExamples() {
  const lines = readme.split('\n');
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('curl ')) continue;
    let cmd = lines[i];
    while (cmd.endsWith('\\')) cmd = cmd.slice(0, -1) + ' ' + lines[++i].trim();
    const expected = lines[i + 1]?.startsWith('# {') ? lines[i + 1].slice(2) : null;
    out.push({ cmd, expected });
  }
  return out;
}

function jsBlock() {
  const m = readme.match(/```js\n([\s\S]*?)```/);
  return m ? m[1] : null;
}

test('README quickstart commands do what the README says', async () => {
  assert.ok(haveSluice(), `sluice binary not found at ${sluiceBin()}`);
  const examples = curlExamples();
  assert.ok(examples.length >= 2, 'README lost its curl examples');
  const dataDir = makeTempDir();
  const srv = await startServer({ dataDir, writeKeys: ['WK'] });
  try {
    for (const { cmd, expected } of examples) {
      const { stdout } = await run('bash', ['-c', cmd.replaceAll(README_URL, srv.url)]);
      if (expected) assert.deepEqual(JSON.parse(stdout), JSON.parse(expected), cmd);
    }

    const snippet = jsBlock();
    assert.ok(snippet, 'README lost its SDK snippet');
    const file = path.join(repoRoot, 'tests', 'e2e', `.readme-snippet-${process.pid}.mjs`);
    writeFileSync(file, snippet.replaceAll(README_URL, srv.url));
    try {
      await run(process.execPath, [file], { cwd: repoRoot, timeout: 30000 });
    } finally {
      (await import('node:fs')).rmSync(file, { force: true });
    }
  } finally {
    await srv.stop();
  }
  const records = await logDump(dataDir);
  const events = records.map((r) => r.event ?? r.type);
  assert.ok(records.some((r) => r.type === 'identify' && r.userId === 'u1' && r.traits?.plan === 'pro'), 'SDK identify missing');
  assert.ok(records.filter((r) => r.event === 'Order Completed').length >= 2, `events: ${events}`);
  assert.ok(records.some((r) => r.violations?.[0]?.rule === 'envelope.identity'), 'quarantined example missing');
});
