// JSON Schema -> GBNF. Each schema's grammar is sampled at random (a seeded walk over the
// matcher's stacks, choosing characters the grammar allows and stopping only where it may end),
// and every sentence must JSON.parse and validate against the schema with Ajv, an independent
// validator. Hand-written documents check the other direction; unsupported keywords are refused.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { isWasmChordError } from '../../src/errors.js';
import { jsonObjectGrammar, jsonSchemaToGrammar } from '../../src/engine/grammar/json-schema.js';
import { GrammarMatcher, grammarAccepts } from '../../src/engine/grammar/matcher.js';
import { parseGrammar, type CompiledGrammar } from '../../src/engine/grammar/parser.js';
import { prng } from '../helpers/prng.js';

/** Ajv with the four formats the converter supports, each checked independently of the grammar. */
function validator(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const isDate = (s: string) => {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
    if (!m) return false;
    const d = new Date(0);
    d.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
  };
  const isTime = (s: string) => /^([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/.test(s);
  ajv.addFormat('date', isDate);
  ajv.addFormat('time', isTime);
  ajv.addFormat('date-time', (s: string) => /^[^T]+T.+$/.test(s) && isDate(s.split('T')[0]!) && isTime(s.slice(s.indexOf('T') + 1)));
  ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
  return ajv;
}

/** A random code point of one of `ranges`, mostly printable ASCII where the range has some. */
function pickCodePoint(ranges: Uint32Array, rand: () => number): number {
  const i = 2 * Math.floor((rand() * ranges.length) / 2);
  const lo = ranges[i]!;
  const hi = ranges[i + 1]!;
  const asciiLo = Math.max(lo, 0x20);
  const asciiHi = Math.min(hi, 0x7e);
  if (asciiLo <= asciiHi && rand() < 0.8) return asciiLo + Math.floor(rand() * (asciiHi - asciiLo + 1));
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/** A random sentence of the grammar, or undefined when the walk ran past maxChars. */
function randomSentence(g: CompiledGrammar, rand: () => number, maxChars = 3000): string | undefined {
  const m = new GrammarMatcher(g);
  let text = '';
  for (;;) {
    const tops = m.stacks.filter((s) => s !== null);
    if (m.isComplete && (tops.length === 0 || rand() < 0.3)) return text;
    if (text.length > maxChars) return undefined;
    const top = tops[Math.floor(rand() * tops.length)]!;
    const ch = String.fromCodePoint(pickCodePoint(g.charsets[g.args[top.pos]!]!, rand));
    assert.ok(m.acceptString(ch), `the grammar refused ${JSON.stringify(ch)} that its own stack offered`);
    text += ch;
  }
}

/** Samples `count` sentences of the schema's grammar and checks each parses and validates. */
function checkSamples(schema: object | boolean, count: number, seed: number): unknown[] {
  const validate = validator().compile(schema);
  const g = parseGrammar(jsonSchemaToGrammar(schema));
  const rand = prng(seed);
  const values: unknown[] = [];
  for (let i = 0; values.length < count; i++) {
    assert.ok(i < count * 3, 'too many sentences ran too long');
    const text = randomSentence(g, rand);
    if (text === undefined) continue;
    let value: unknown;
    assert.doesNotThrow(() => (value = JSON.parse(text)), `not JSON: ${text}`);
    assert.ok(validate(value), `${text}\n${JSON.stringify(validate.errors)}`);
    values.push(value);
  }
  return values;
}

const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 12 },
    age: { type: 'integer' },
    score: { type: 'number' },
    admin: { type: 'boolean' },
    nothing: { type: 'null' },
    role: { enum: ['user', 'admin', 42, null, true, { nested: [1] }] },
    version: { const: 'v1' },
    tags: { type: 'array', items: { type: 'string', maxLength: 5 }, minItems: 1, maxItems: 3 },
    address: {
      type: 'object',
      properties: { city: { type: 'string' }, zip: { type: ['string', 'null'], maxLength: 6 } },
      required: ['city'],
    },
  },
  required: ['name', 'age', 'tags'],
};

describe('JSON Schema conversion: random sentences validate (Ajv)', () => {
  test('objects: required and optional properties in declared order, nested objects, every scalar type', () => {
    const values = checkSamples(PERSON, 300, 1) as Record<string, unknown>[];
    const order = Object.keys(PERSON.properties);
    const seen = new Set<string>();
    for (const v of values) {
      const keys = Object.keys(v);
      keys.forEach((k) => seen.add(k));
      assert.deepEqual(keys, order.filter((k) => keys.includes(k)), 'properties come in declared order');
    }
    assert.deepEqual([...seen].sort(), [...order].sort(), 'every optional property appears in some sample');
  });

  test('formats: date (leap years included), time, date-time, uuid', () => {
    const schema = {
      type: 'object',
      properties: {
        d: { type: 'string', format: 'date' },
        t: { type: 'string', format: 'time' },
        dt: { type: 'string', format: 'date-time' },
        id: { type: 'string', format: 'uuid' },
      },
      required: ['d', 't', 'dt', 'id'],
    };
    checkSamples(schema, 300, 2);
    const g = parseGrammar(jsonSchemaToGrammar({ type: 'string', format: 'date' }));
    assert.deepEqual(['"2024-02-29"', '"2000-02-29"', '"1900-02-29"', '"2023-02-29"', '"2023-04-31"', '"2023-12-31"'].map((s) => grammarAccepts(g, s)), [true, true, false, false, false, true]);
  });

  test('arrays: items, minItems, maxItems; strings: minLength, maxLength', () => {
    const values = checkSamples({ type: 'array', items: { type: 'string', minLength: 2, maxLength: 4 }, minItems: 2, maxItems: 4 }, 200, 3) as string[][];
    assert.ok(values.some((v) => v.length === 2) && values.some((v) => v.length === 4));
    checkSamples({ type: 'array', maxItems: 0 }, 20, 4);
    checkSamples({ type: 'array', items: { type: 'integer' } }, 100, 5);
  });

  test('anyOf, oneOf (disjoint alternatives), type lists', () => {
    checkSamples({ anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 3 }, { type: 'array', items: { type: 'boolean' }, maxItems: 2 }] }, 200, 6);
    checkSamples({ oneOf: [{ type: 'null' }, { type: 'object', properties: { a: { type: 'number' } }, required: ['a'] }] }, 100, 7);
    checkSamples({ type: ['boolean', 'null', 'number'] }, 100, 8);
  });

  test('$ref into $defs and definitions, recursive definitions', () => {
    const tree = {
      $ref: '#/$defs/node',
      $defs: {
        node: {
          type: 'object',
          properties: { v: { $ref: '#/definitions/small' }, kids: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 } },
          required: ['v'],
        },
      },
      definitions: { small: { type: 'integer' } },
    };
    checkSamples(tree, 100, 9);
  });

  test('{}, true, { type: "object" } and the json_object grammar accept any JSON value / object', () => {
    checkSamples({}, 200, 10);
    checkSamples(true, 100, 11);
    const objects = checkSamples({ type: 'object' }, 200, 12);
    assert.ok(objects.every((o) => typeof o === 'object' && o !== null && !Array.isArray(o)));
    assert.equal(jsonObjectGrammar(), jsonSchemaToGrammar({ type: 'object' }));
    const g = parseGrammar(jsonObjectGrammar());
    for (const text of ['{}', ' {"a": [1, -2.5e3, "x\\u00e9\\n", null, true, {"b": {}}]}\n', '{\n  "k": "v"\n}']) assert.ok(grammarAccepts(g, text), text);
    for (const text of ['[]', '"x"', '{"a":}', '{"a":1,}', '{a:1}', '{"a":01}']) assert.ok(!grammarAccepts(g, text), text);
  });
});

describe('JSON Schema conversion: documents', () => {
  const g = parseGrammar(jsonSchemaToGrammar(PERSON));

  test('valid documents, with whitespace as people write it, are accepted', () => {
    const docs = [
      { name: 'Ann', age: 30, tags: ['a'] },
      { name: 'Bo "B" \\ é😀', age: -1, score: 1.5e-7, admin: false, nothing: null, role: { nested: [1] }, version: 'v1', tags: ['x', 'y', ''], address: { city: 'Paris', zip: null } },
    ];
    for (const d of docs) {
      assert.ok(grammarAccepts(g, JSON.stringify(d)), JSON.stringify(d));
      assert.ok(grammarAccepts(g, JSON.stringify(d, null, 2)), JSON.stringify(d, null, 2));
    }
  });

  test('invalid documents are refused', () => {
    const bad = [
      { age: 30, tags: ['a'] }, // name missing
      { name: '', age: 30, tags: ['a'] }, // too short
      { name: 'Ann', age: 3.5, tags: ['a'] }, // not an integer
      { name: 'Ann', age: 30, tags: [] }, // too few items
      { name: 'Ann', age: 30, tags: ['a', 'b', 'c', 'd'] }, // too many
      { name: 'Ann', age: 30, tags: ['toolong'] },
      { name: 'Ann', age: 30, tags: ['a'], extra: 1 }, // additionalProperties false by default
      { name: 'Ann', age: 30, tags: ['a'], role: 'root' },
      { name: 'Ann', age: 30, tags: ['a'], version: 'v2' },
      { name: 'Ann', age: 30, tags: ['a'], address: {} },
    ];
    for (const d of bad) assert.ok(!grammarAccepts(g, JSON.stringify(d)), JSON.stringify(d));
  });
});

describe('JSON Schema conversion: what is not supported is refused, naming keyword and path', () => {
  const unsupported: [object | boolean, RegExp][] = [
    [{ type: 'string', pattern: '^a' }, /"pattern" at #/],
    [{ not: { type: 'null' } }, /"not" at #/],
    [{ type: 'object', properties: { a: { if: {}, then: {} } } }, /"if" at #\/properties\/a/],
    [{ type: 'integer', minimum: 0 }, /"minimum" at #/],
    [{ type: 'string', format: 'email' }, /"format" at # .*email/],
    [{ type: 'object', properties: { a: {} }, additionalProperties: true }, /"additionalProperties" at #/],
    [{ type: 'array', items: [{ type: 'string' }] }, /"items" at #/],
    [{ type: 'array', prefixItems: [] }, /"prefixItems" at #/],
    [{ allOf: [{}, {}] }, /"allOf" at #/],
    [{ $ref: 'https://example.com/s.json' }, /"\$ref" at #\/\$ref/],
    [{ type: 'object', properties: { a: {} }, required: ['b'] }, /"required" at # names "b"/],
    [{ anyOf: [{}], type: 'string' }, /"type" at # beside "anyOf"/],
    [{ type: 'array', items: false }, /"false" at #\/items/],
    [{ type: 'object', properties: { s: { type: 'string', maxLength: 1e9 } } }, /"maxLength" at #\/properties\/s above 100000/],
  ];
  for (const [schema, message] of unsupported) {
    test(JSON.stringify(schema), () => {
      assert.throws(() => jsonSchemaToGrammar(schema), (e) => isWasmChordError(e, 'SCHEMA_UNSUPPORTED') && message.test(e.message));
    });
  }

  test('malformed schemas are INVALID_ARGUMENT', () => {
    const loop: Record<string, unknown> = { type: 'object' };
    loop.properties = { self: loop };
    for (const schema of [{ type: 'strng' }, { enum: [] }, { $ref: '#/$defs/missing' }, { type: 'string', maxLength: -1 }, { type: 'array', minItems: 3, maxItems: 1 }, 'string', loop]) {
      assert.throws(() => jsonSchemaToGrammar(schema), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'), JSON.stringify(schema === loop ? 'loop' : schema));
    }
  });

  test('annotations are ignored', () => {
    const g = parseGrammar(jsonSchemaToGrammar({ $schema: 'https://json-schema.org/draft/2020-12/schema', title: 'T', description: 'D', default: 1, examples: [1], type: 'integer' }));
    assert.ok(grammarAccepts(g, '12'));
  });
});
