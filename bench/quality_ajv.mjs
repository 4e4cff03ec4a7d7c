#!/usr/bin/env node
// Quality-gate benchmark, reference side: ajv 8 (the JavaScript validator that
// compiles schemas to code) on the same tracking plan and events as
// bench_quality. Schemas are compiled once; events are JSON.parse'd before
// timing; only "look up the event's schema, validate its properties" is timed,
// with allErrors off (stop at the first error) and on. Formats are not
// asserted on either side (ajv-formats is not installed; Sluice's default
// treats `format` as an annotation). Best of REPEATS runs.
//
//   node bench/quality_ajv.mjs PLAN.json EVENTS.ndjson [REPEATS]
import fs from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';

const [planFile, eventsFile, repeatsArg] = process.argv.slice(2);
if (!planFile || !eventsFile) {
  console.error('usage: node bench/quality_ajv.mjs PLAN.json EVENTS.ndjson [REPEATS]');
  process.exit(2);
}
const repeats = Number(repeatsArg ?? 3);
const plan = JSON.parse(fs.readFileSync(planFile, 'utf8'));
const events = fs.readFileSync(eventsFile, 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l));

for (const allErrors of [false, true]) {
  const ajv = new Ajv2020({ allErrors, strict: false, validateFormats: false });
  const validators = new Map(Object.entries(plan).map(([name, schema]) => [name, ajv.compile(schema)]));
  let best = 0;
  let valid = 0;
  for (let r = 0; r < repeats; r++) {
    valid = 0;
    const start = process.hrtime.bigint();
    for (const e of events) {
      const validate = validators.get(e.event);
      if (validate === undefined) continue;
      if (validate(e.properties)) valid++;
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    best = Math.max(best, events.length / seconds);
  }
  console.log(`${allErrors ? 'ajv_all_errors' : 'ajv_first_error'} events=${events.length} valid=${valid} events_per_s=${best.toFixed(0)}`);
}
