import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isWasmChordError } from '../../src/errors.js';
import { argmax, Sampler } from '../../src/engine/sampler.js';
import { Rng } from '../../src/engine/rng.js';

const logitsOf = (probs: number[]) => Float32Array.from(probs, Math.log);

/** Empirical distribution of `draws` samples. */
function histogram(s: Sampler, logits: Float32Array, draws: number, history: number[] = []): number[] {
  const h = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < draws; i++) h[s.sample(logits, history)]!++;
  return h.map((c) => c / draws);
}

describe('greedy', () => {
  test('argmax takes the lowest id among ties and ignores NaN', () => {
    assert.equal(argmax([1, 3, 3, 2]), 1);
    assert.equal(argmax([NaN, 0.5, NaN]), 1);
  });
  test('temperature 0 is argmax after bias and penalties', () => {
    const logits = Float32Array.of(1, 5, 4);
    assert.equal(new Sampler({ temperature: 0 }).sample(logits), 1);
    assert.equal(new Sampler({ temperature: 0, logitBias: { 1: -Infinity } }).sample(logits), 2);
    // repeat penalty 2 on token 1 (positive logit): 5 / 2 = 2.5 < 4
    assert.equal(new Sampler({ temperature: 0, repeatPenalty: 2 }).sample(logits, [1]), 2);
  });
});

describe('penalties follow llama.cpp', () => {
  test('repeat penalty divides positive logits and multiplies negative ones', () => {
    // token 0: -1 * 3 = -3 ; token 1: 2 / 3 = 0.667 ; token 2 unpenalised at 0.5
    const s = new Sampler({ temperature: 0, repeatPenalty: 3 });
    assert.equal(s.sample(Float32Array.of(-1, 2, 0.5), [0, 1]), 1);
    assert.equal(s.sample(Float32Array.of(-1, 1.2, 0.5), [0, 1]), 2);
  });
  test('frequency penalty counts occurrences, presence penalty applies once', () => {
    const logits = Float32Array.of(3, 2.5);
    // token 0 seen twice: 3 - 2 * 0.3 = 2.4 < 2.5
    assert.equal(new Sampler({ temperature: 0, frequencyPenalty: 0.3 }).sample(logits, [0, 0]), 1);
    // presence 0.3 once: 3 - 0.3 = 2.7 > 2.5
    assert.equal(new Sampler({ temperature: 0, presencePenalty: 0.3 }).sample(logits, [0, 0]), 0);
  });
  test('only the last penaltyLastN tokens count', () => {
    const s = new Sampler({ temperature: 0, repeatPenalty: 10, penaltyLastN: 1 });
    assert.equal(s.sample(Float32Array.of(5, 4), [0, 1]), 0);
  });
});

describe('truncation', () => {
  const logits = logitsOf([0.5, 0.3, 0.15, 0.05]);
  test('top-k keeps the k most likely tokens', () => {
    const h = histogram(new Sampler({ topK: 2, topP: 1, minP: 0, temperature: 1, seed: 1 }), logits, 4000);
    assert.equal(h[2], 0);
    assert.equal(h[3], 0);
    assert.ok(Math.abs(h[0]! - 0.625) < 0.03, `p0 ${h[0]}`); // 0.5 / 0.8
  });
  test('top-p keeps the smallest prefix reaching p', () => {
    // cumulative 0.5, 0.8, 0.95 -> p = 0.8 keeps two, p = 0.81 keeps three
    const two = histogram(new Sampler({ topK: 0, topP: 0.8, minP: 0, temperature: 1, seed: 2 }), logits, 3000);
    assert.deepEqual(two.map((p) => p > 0), [true, true, false, false]);
    const three = histogram(new Sampler({ topK: 0, topP: 0.81, minP: 0, temperature: 1, seed: 3 }), logits, 3000);
    assert.deepEqual(three.map((p) => p > 0), [true, true, true, false]);
  });
  test('min-p drops tokens below minP times the best probability', () => {
    // 0.5 * 0.35 = 0.175: keeps 0.5 and 0.3
    const h = histogram(new Sampler({ topK: 0, topP: 1, minP: 0.35, temperature: 1, seed: 4 }), logits, 3000);
    assert.deepEqual(h.map((p) => p > 0), [true, true, false, false]);
  });
  test('temperature sharpens: T=0.5 squares the odds', () => {
    // p ∝ [0.5², 0.3²] = [0.25, 0.09] -> 0.735
    const h = histogram(new Sampler({ topK: 2, topP: 1, minP: 0, temperature: 0.5, seed: 5 }), logits, 6000);
    assert.ok(Math.abs(h[0]! - 0.25 / 0.34) < 0.03, `p0 ${h[0]}`);
  });
  test('a banned token is never drawn; banning all is an error', () => {
    const s = new Sampler({ topK: 0, topP: 1, minP: 0, temperature: 1, seed: 6, logitBias: new Map([[0, -Infinity]]) });
    assert.equal(histogram(s, logits, 1000)[0], 0);
    const none = new Sampler({ temperature: 1, logitBias: { 0: -Infinity, 1: -Infinity } });
    assert.throws(() => none.sample(Float32Array.of(1, 2)), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'));
  });
  test('top-k ties keep the lower id', () => {
    const h = histogram(new Sampler({ topK: 1, temperature: 1, seed: 7 }), Float32Array.of(1, 2, 2), 50);
    assert.deepEqual(h, [0, 1, 0]);
  });
});

describe('determinism', () => {
  const logits = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 3);
  const run = (seed: number) => {
    const s = new Sampler({ seed, temperature: 1.2, topK: 0, topP: 0.99, minP: 0 });
    return Array.from({ length: 200 }, () => s.sample(logits));
  };
  test('the same seed gives the same draws; another seed does not', () => {
    assert.deepEqual(run(42), run(42));
    assert.notDeepEqual(run(42), run(43));
  });
  test('the PRNG is uniform enough: mean of 10^5 draws near 0.5', () => {
    const rng = new Rng(9);
    let sum = 0;
    for (let i = 0; i < 1e5; i++) sum += rng.nextFloat();
    assert.ok(Math.abs(sum / 1e5 - 0.5) < 0.005);
  });
});

test('bad options are refused by name', () => {
  const bad: [object, RegExp][] = [
    [{ temperature: -1 }, /temperature/],
    [{ topK: 1.5 }, /topK/],
    [{ topP: 0 }, /topP/],
    [{ minP: 2 }, /minP/],
    [{ repeatPenalty: 0 }, /repeatPenalty/],
    [{ seed: -3 }, /seed/],
    [{ temperature: 'hot' }, /temperature/],
    [{ logitBias: { x: 1 } }, /logitBias/],
  ];
  for (const [options, name] of bad) {
    assert.throws(() => new Sampler(options as never), (e) => isWasmChordError(e, 'INVALID_ARGUMENT') && name.test(e.message));
  }
});
