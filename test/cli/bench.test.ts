// `wasm-chord bench`: the JSON records' shape, the human table, bad usage. No timing assertions.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { benchTokenIds, meanSd } from '../../src/cli/bench.js';
import { runCli } from '../helpers/cli.js';
import { SHARED } from '../helpers/shared.js';

const MODEL = join(SHARED, 'models/stories260K.gguf');

for (const threads of [1, 2]) {
  test(`--json, ${threads} thread(s): one record per test, every number positive and finite`, async () => {
    const r = await runCli(['bench', '-m', MODEL, '-p', '16', '-n', '4', '-r', '2', '-t', `${threads}`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const records = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.deepEqual(records.map((x) => x.test), ['pp16', 'tg4']);
    for (const x of records) {
      assert.deepEqual(Object.keys(x).sort(), ['load_ms', 'peak_rss_bytes', 'test', 'threads', 'tps_mean', 'tps_sd', 'ttft_ms']);
      assert.equal(x.threads, threads);
      for (const key of ['tps_mean', 'ttft_ms', 'load_ms', 'peak_rss_bytes']) {
        assert.ok(Number.isFinite(x[key]) && (x[key] as number) > 0, `${x.test} ${key} = ${x[key]}`);
      }
      assert.ok(Number.isFinite(x.tps_sd) && (x.tps_sd as number) >= 0);
    }
    assert.match(r.stderr, /loaded stories260K\.gguf in \d+ ms/);
  });
}

test('the human table names the model, the tests and tokens per second', async () => {
  const r = await runCli(['bench', '-m', MODEL, '-p', '8', '-n', '0', '-r', '1', '-t', '1', '-b', '4']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\| model +\| size +\| params +\| backend +\| threads +\| +test +\| +t\/s +\|$/m);
  assert.match(r.stdout, /^\| llama \S+ F32 .*\| +1 \| +pp8 \| +[\d.]+ ± [\d.]+ \|$/m);
  assert.doesNotMatch(r.stdout, /tg/);
  assert.match(r.stdout, /^load \d+ ms; time to first token: pp8 [\d.]+ ms; peak RSS [\d.]+ MiB$/m);
});

test('tests shorter than the warm-up (-n 1, -p 2) still fit the context', async () => {
  for (const [p, n, want] of [['0', '1', ['tg1']], ['2', '0', ['pp2']]] as const) {
    const r = await runCli(['bench', '-m', MODEL, '-p', p, '-n', n, '-r', '1', '-t', '1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { test: string }[]).map((x) => x.test), want);
  }
});

test('bad usage exits with 2 and one line', async () => {
  for (const args of [['bench'], ['bench', '-m', MODEL, '-p', 'x'], ['bench', '-m', MODEL, '-p', '0', '-n', '0'], ['bench', '-m', MODEL, '-r', '0'], ['bench', '-m', MODEL, '-t', '0'], ['bench', '-m', MODEL, '-b', '0']]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^wasm-chord: /);
  }
});

test('seeded token ids and statistics', () => {
  assert.deepEqual(benchTokenIds(8, 100), benchTokenIds(8, 100));
  assert.ok(benchTokenIds(1000, 7).every((id) => id >= 0 && id < 7));
  assert.deepEqual(meanSd([2, 4, 6]), { mean: 4, sd: 2 });
  assert.deepEqual(meanSd([5]), { mean: 5, sd: 0 });
});
