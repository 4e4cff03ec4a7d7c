// `sluice schema validate --schema FILE` as DESIGN.md §3 states it: NDJSON
// instances on stdin, one verdict line per instance on stdout; exit 0 when
// all are valid, 1 when some are not, 2 on a schema or usage error with one
// line on stderr.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeTempDir, cleanupTempDirs, runSluice, haveSluice, sluiceBin } from './lib/server.mjs';

after(cleanupTempDirs);

const ORDER_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  properties: {
    order_id: { type: 'string', minLength: 1 },
    total: { type: 'number', minimum: 0 },
    currency: { enum: ['EUR', 'USD'] },
  },
  required: ['order_id', 'total'],
};

function schemaFile(schema) {
  const file = path.join(makeTempDir(), 'schema.json');
  writeFileSync(file, typeof schema === 'string' ? schema : JSON.stringify(schema));
  return file;
}

const verdicts = (stdout) => stdout.trim().split('\n').map((l) => JSON.parse(l));

test('all valid instances: one {"valid":true} line each, exit 0', async () => {
  assert.ok(haveSluice(), `sluice binary not found at ${sluiceBin()}`);
  const input = '{"order_id":"o1","total":3.5}\n{"order_id":"o2","total":0,"currency":"EUR"}\n';
  const r = await runSluice(['schema', 'validate', '--schema', schemaFile(ORDER_SCHEMA)], { input });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '{"valid":true}\n{"valid":true}\n');
});

test('invalid and non-JSON lines are reported with every error, exit 1', async () => {
  const input = [
    '{"order_id":"o1","total":1}',
    '{"total":-2,"currency":"GBP"}',
    'this is not json',
  ].join('\n');
  const r = await runSluice(['schema', 'validate', '--schema', schemaFile(ORDER_SCHEMA)], { input });
  assert.equal(r.code, 1, r.stderr);
  const [ok, bad, garbage] = verdicts(r.stdout);
  assert.deepEqual(ok, { valid: true });
  assert.equal(bad.valid, false);
  const byKeyword = Object.fromEntries(bad.errors.map((e) => [e.keyword, e]));
  assert.deepEqual(Object.keys(byKeyword).sort(), ['enum', 'minimum', 'required']);
  assert.deepEqual(byKeyword.minimum, {
    instancePath: '/total', schemaPath: '#/properties/total/minimum', keyword: 'minimum', message: 'must be >= 0',
  });
  assert.equal(byKeyword.required.instancePath, '');
  assert.match(byKeyword.required.message, /order_id/);
  assert.equal(byKeyword.enum.instancePath, '/currency');
  assert.equal(garbage.valid, false);
  assert.equal(garbage.errors.length, 1);
  assert.match(garbage.errors[0].message, /line 3 is not JSON/);
});

test('formats are annotations unless --assert-formats', async () => {
  const file = schemaFile({ type: 'string', format: 'email' });
  const plain = await runSluice(['schema', 'validate', '--schema', file], { input: '"not-an-email"\n' });
  assert.equal(plain.code, 0);
  const asserted = await runSluice(['schema', 'validate', '--schema', file, '--assert-formats'], { input: '"not-an-email"\n"a@example.com"\n' });
  assert.equal(asserted.code, 1);
  assert.deepEqual(verdicts(asserted.stdout).map((v) => v.valid), [false, true]);
  assert.equal(verdicts(asserted.stdout)[0].errors[0].keyword, 'format');
});

test('a bad schema, a missing file or a missing flag: exit 2, one line on stderr, nothing on stdout', async () => {
  const cases = [
    ['schema', 'validate', '--schema', schemaFile('{"type": "nope"}')],
    ['schema', 'validate', '--schema', schemaFile('{not json')],
    ['schema', 'validate', '--schema', schemaFile('{"$ref": "#/$defs/missing"}')],
    ['schema', 'validate', '--schema', path.join(makeTempDir(), 'absent.json')],
    ['schema', 'validate'],
  ];
  for (const args of cases) {
    const r = await runSluice(args, { input: '{}\n' });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
