/**
 * JSON Schema -> GBNF: a grammar whose every sentence is JSON that validates against the schema.
 * Keywords that the conversion cannot honour give SCHEMA_UNSUPPORTED naming the keyword and its
 * path, rather than a grammar that would let invalid output through. Lengths are bounded where
 * JSON allows anything (digits of a number, whitespace runs) so a sampler cannot wander forever.
 */
import { WasmChordError } from '../../errors.js';

/** Keywords that describe a schema without constraining its values. */
const ANNOTATIONS = new Set([
  '$schema', '$id', '$comment', 'title', 'description', 'default', 'examples', 'deprecated', 'readOnly', 'writeOnly',
  '$defs', 'definitions',
]);
const KEYWORDS = new Set([
  'type', 'enum', 'const', 'anyOf', 'oneOf', 'allOf', '$ref', 'properties', 'required', 'additionalProperties',
  'items', 'minItems', 'maxItems', 'minLength', 'maxLength', 'format',
]);
const OBJECT_KEYWORDS = ['properties', 'required', 'additionalProperties'];
const ARRAY_KEYWORDS = ['items', 'minItems', 'maxItems'];
const STRING_KEYWORDS = ['minLength', 'maxLength', 'format'];

/** The shared rules, each added to a grammar only when used. */
const BASE_RULES: Record<string, string> = {
  ws: '| " " | "\\n" [ \\t]{0,20}',
  value: 'object | array | string | number | boolean | null',
  object: '"{" ws ( string ws ":" ws value ws ( "," ws string ws ":" ws value ws )* )? "}"',
  array: '"[" ws ( value ws ( "," ws value ws )* )? "]"',
  string: '"\\"" char* "\\""',
  char: '[^"\\\\\\x00-\\x1F] | "\\\\" ( ["\\\\/bfnrt] | "u" hex{4} )',
  hex: '[0-9a-fA-F]',
  // At most 16 integer digits, 16 fraction digits and a 2-digit exponent: every such number is finite.
  integer: '"-"? ( "0" | [1-9] [0-9]{0,15} )',
  number: 'integer ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?',
  boolean: '"true" | "false"',
  null: '"null"',
  date: 'year "-" month-day | leap-year "-02-29"',
  year: '[0-9]{4}',
  'month-day': '( "0" [13578] | "1" [02] ) "-" day31 | ( "0" [469] | "11" ) "-" day30 | "02-" day28',
  day31: '"0" [1-9] | [12] [0-9] | "3" [01]',
  day30: '"0" [1-9] | [12] [0-9] | "30"',
  day28: '"0" [1-9] | "1" [0-9] | "2" [0-8]',
  // Divisible by 4 and not by 100, or by 400.
  'leap-year': '[0-9]{2} ( "0" [48] | [2468] [048] | [13579] [26] ) | ( "0" [048] | [2468] [048] | [13579] [26] ) "00"',
  time: 'hour ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,6} )? ( "Z" | [+-] hour ":" [0-5] [0-9] )',
  hour: '[01] [0-9] | "2" [0-3]',
  'date-time': 'date "T" time',
  uuid: 'hex{8} "-" hex{4} "-" hex{4} "-" hex{4} "-" hex{12}',
};
/** Which base rules each base rule uses. */
const BASE_USES: Record<string, string[]> = {
  value: ['object', 'array', 'string', 'number', 'boolean', 'null'],
  object: ['ws', 'string', 'value'],
  array: ['ws', 'value'],
  string: ['char'],
  char: ['hex'],
  number: ['integer'],
  date: ['year', 'month-day', 'leap-year'],
  'month-day': ['day31', 'day30', 'day28'],
  time: ['hour'],
  'date-time': ['date', 'time'],
  uuid: ['hex'],
};
const FORMATS = new Set(['date', 'time', 'date-time', 'uuid']);

export interface JsonSchemaGrammarOptions {
  /**
   * The name of the rule for the whole value (default 'root'). Another name lets the grammar be
   * embedded in a larger one that defines `root` itself; the other rule names are either fixed
   * base names (ws, value, string, ...) or end in `-<number>`.
   */
  rootName?: string;
}

/**
 * A GBNF grammar (llama.cpp's format) accepting exactly JSON texts valid against `schema`,
 * with optional whitespace around them. `{}` or `true` accept any JSON value; `{ type: 'object' }`
 * any JSON object. Object properties appear in the schema's order; `oneOf` is treated as `anyOf`.
 */
export function jsonSchemaToGrammar(schema: unknown, options: JsonSchemaGrammarOptions = {}): string {
  const rootName = options.rootName ?? 'root';
  if (typeof rootName !== 'string' || !/^[A-Za-z0-9_-]+$/.test(rootName) || Object.hasOwn(BASE_RULES, rootName) || /-\d+$/.test(rootName)) {
    throw new WasmChordError('INVALID_ARGUMENT', `rootName ${JSON.stringify(rootName)} must be a rule name (letters, digits, - and _) other than a base rule's and not ending in -<number>`);
  }
  return new Converter(schema).convert(rootName);
}

/** The grammar of OpenAI's `json_object` response format: any JSON object. */
export function jsonObjectGrammar(): string {
  return jsonSchemaToGrammar({ type: 'object' });
}

function unsupported(keyword: string, path: string, why = 'is not supported'): WasmChordError {
  return new WasmChordError('SCHEMA_UNSUPPORTED', `JSON Schema keyword "${keyword}" at ${path} ${why}`);
}

function badSchema(path: string, why: string): WasmChordError {
  return new WasmChordError('INVALID_ARGUMENT', `JSON Schema at ${path}: ${why}`);
}

/** A GBNF string literal for `text`. */
function literal(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class Converter {
  readonly #root: unknown;
  readonly #rules = new Map<string, string>();
  readonly #base = new Set<string>();
  readonly #refs = new Map<string, string>();
  readonly #visiting = new Set<object>();
  #count = 0;

  constructor(root: unknown) {
    this.#root = root;
  }

  convert(rootName: string): string {
    const body = this.#visit(this.#root, '#');
    this.#useBase('ws');
    const lines = [`${rootName} ::= ws ${body} ws`];
    for (const [name, rule] of this.#rules) lines.push(`${name} ::= ${rule}`);
    for (const name of this.#base) lines.push(`${name} ::= ${BASE_RULES[name]}`);
    return `${lines.join('\n')}\n`;
  }

  #useBase(name: string): string {
    if (!this.#base.has(name)) {
      this.#base.add(name);
      for (const used of BASE_USES[name] ?? []) this.#useBase(used);
    }
    return name;
  }

  /** A new rule named after `hint`; generated names end in -N, so they never meet base rules. */
  #rule(hint: string, body: string): string {
    const name = `${hint.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'r'}-${++this.#count}`;
    this.#rules.set(name, body);
    return name;
  }

  /** A GBNF expression (a rule name or a parenthesised group) for `schema`. */
  #visit(schema: unknown, path: string): string {
    if (schema === true) return this.#useBase('value');
    if (schema === false) throw unsupported('false', path, 'accepts nothing');
    if (!isObject(schema)) throw badSchema(path, 'a schema must be an object or a boolean');
    if (this.#visiting.has(schema)) throw badSchema(path, 'the schema object contains itself (use $ref for recursion)');
    this.#visiting.add(schema);
    try {
      return this.#visitObject(schema, path);
    } finally {
      this.#visiting.delete(schema);
    }
  }

  #visitObject(schema: Record<string, unknown>, path: string): string {
    const keys = Object.keys(schema).filter((k) => !ANNOTATIONS.has(k));
    for (const k of keys) if (!KEYWORDS.has(k)) throw unsupported(k, path);
    const only = (keyword: string) => {
      const other = keys.find((k) => k !== keyword);
      if (other !== undefined) throw unsupported(other, path, `beside "${keyword}" is not supported`);
    };

    if ('$ref' in schema) {
      only('$ref');
      return this.#ref(schema.$ref, `${path}/$ref`);
    }
    for (const keyword of ['anyOf', 'oneOf', 'allOf'] as const) {
      if (!(keyword in schema)) continue;
      only(keyword);
      const list = schema[keyword];
      if (!Array.isArray(list) || list.length === 0) throw badSchema(`${path}/${keyword}`, 'must be a non-empty array');
      if (keyword === 'allOf') {
        if (list.length > 1) throw unsupported('allOf', path, 'with more than one schema is not supported');
        return this.#visit(list[0], `${path}/allOf/0`);
      }
      return this.#rule('alt', list.map((s, i) => this.#visit(s, `${path}/${keyword}/${i}`)).join(' | '));
    }
    if ('const' in schema) return this.#value(schema.const);
    if ('enum' in schema) {
      const values = schema.enum;
      if (!Array.isArray(values) || values.length === 0) throw badSchema(`${path}/enum`, 'must be a non-empty array');
      return this.#rule('enum', values.map((v) => this.#value(v)).join(' | '));
    }

    let types: unknown = schema.type;
    if (types === undefined) {
      // Without a type, the keywords present say which kind of value is meant.
      const kinds = [
        OBJECT_KEYWORDS.some((k) => k in schema) && 'object',
        ARRAY_KEYWORDS.some((k) => k in schema) && 'array',
        STRING_KEYWORDS.some((k) => k in schema) && 'string',
      ].filter(Boolean);
      if (kinds.length === 0) return this.#useBase('value');
      types = kinds;
    }
    const list = typeof types === 'string' ? [types] : types;
    if (!Array.isArray(list) || list.length === 0) throw badSchema(`${path}/type`, 'must be a type name or a non-empty array of them');
    const alternatives = list.map((t) => this.#type(t, schema, path));
    return alternatives.length === 1 ? alternatives[0]! : this.#rule('type', alternatives.join(' | '));
  }

  /** Exactly the JSON value `v`, with whitespace allowed where JSON allows it. */
  #value(v: unknown): string {
    if (typeof v !== 'object' || v === null) return literal(JSON.stringify(v));
    const ws = this.#useBase('ws');
    const members = Array.isArray(v)
      ? v.map((item) => `${this.#value(item)} ${ws}`)
      : Object.entries(v).map(([k, item]) => `${literal(JSON.stringify(k))} ${ws} ":" ${ws} ${this.#value(item)} ${ws}`);
    const [open, close] = Array.isArray(v) ? ['"["', '"]"'] : ['"{"', '"}"'];
    return `( ${open} ${ws} ${members.join(` "," ${ws} `)} ${close} )`;
  }

  #type(type: unknown, schema: Record<string, unknown>, path: string): string {
    switch (type) {
      case 'object':
        return this.#object(schema, path);
      case 'array':
        return this.#array(schema, path);
      case 'string':
        return this.#string(schema, path);
      case 'number':
      case 'integer':
      case 'boolean':
      case 'null':
        return this.#useBase(type);
      default:
        throw badSchema(`${path}/type`, `unknown type ${JSON.stringify(type)}`);
    }
  }

  #ref(ref: unknown, path: string): string {
    if (typeof ref !== 'string') throw badSchema(path, '$ref must be a string');
    let name = this.#refs.get(ref);
    if (name !== undefined) return name;
    const match = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref);
    if (!match) throw unsupported('$ref', path, `to ${JSON.stringify(ref)} is not supported (only #/$defs/... and #/definitions/...)`);
    const key = match[2]!.replaceAll('~1', '/').replaceAll('~0', '~');
    const defs = isObject(this.#root) ? this.#root[match[1]!] : undefined;
    if (!isObject(defs) || !(key in defs)) throw badSchema(path, `$ref ${JSON.stringify(ref)} names no definition`);
    // Named before its body is built, so recursive definitions refer to themselves.
    name = this.#rule(key, '');
    this.#refs.set(ref, name);
    this.#rules.set(name, this.#visit(defs[key], ref));
    return name;
  }

  #object(schema: Record<string, unknown>, path: string): string {
    const properties = schema.properties ?? {};
    if (!isObject(properties)) throw badSchema(`${path}/properties`, 'must be an object');
    const names = Object.keys(properties);
    const required = schema.required ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) throw badSchema(`${path}/required`, 'must be an array of names');
    const additional = schema.additionalProperties ?? names.length === 0;
    for (const r of required) {
      if (!names.includes(r as string)) throw unsupported('required', path, `names "${r}", which is not among the properties`);
    }
    const ws = this.#useBase('ws');

    if (names.length === 0) {
      if (additional === false) return '( "{" ws "}" )';
      const value = additional === true ? this.#useBase('value') : this.#visit(additional, `${path}/additionalProperties`);
      const key = this.#useBase('string');
      const member = `${key} ${ws} ":" ${ws} ${value} ${ws}`;
      return this.#rule('map', `"{" ${ws} ( ${member} ( "," ${ws} ${member} )* )? "}"`);
    }
    if (additional !== false) throw unsupported('additionalProperties', path, 'beside "properties" is only supported as false');

    // first[i]: properties i.. when none was written yet; rest[i]: after at least one (comma first).
    const isRequired = new Set(required as string[]);
    let first = '';
    let rest = '';
    for (let i = names.length - 1; i >= 0; i--) {
      const name = names[i]!;
      const value = this.#visit(properties[name], `${path}/properties/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`);
      const member = `${literal(JSON.stringify(name))} ${ws} ":" ${ws} ${value} ${ws}`;
      const restAfter = rest === '' ? '' : ` ${rest}`;
      const present = `${member}${restAfter}`;
      const newFirst = isRequired.has(name) ? present : `${present} | ${first === '' ? '' : first}`;
      const newRest = isRequired.has(name) ? `"," ${ws} ${present}` : `"," ${ws} ${present} | ${rest}`;
      first = this.#rule(`${name}-first`, newFirst.trimEnd());
      rest = this.#rule(`${name}-rest`, newRest.trimEnd());
    }
    return `( "{" ${ws} ${first} "}" )`;
  }

  #array(schema: Record<string, unknown>, path: string): string {
    const items = schema.items;
    if (Array.isArray(items)) throw unsupported('items', path, 'as an array (tuple validation) is not supported');
    const item = items === undefined ? this.#useBase('value') : this.#visit(items, `${path}/items`);
    const min = schema.minItems === undefined ? 0 : count(schema.minItems, `${path}/minItems`);
    const max = schema.maxItems === undefined ? Infinity : count(schema.maxItems, `${path}/maxItems`);
    if (max < min) throw badSchema(path, 'maxItems is below minItems');
    const ws = this.#useBase('ws');
    if (max === 0) return `( "[" ${ws} "]" )`;
    const more = repetition(`( "," ${ws} ${item} ${ws} )`, Math.max(0, min - 1), max - 1);
    const list = `${item} ${ws}${more}`;
    return this.#rule('array', min === 0 ? `"[" ${ws} ( ${list} )? "]"` : `"[" ${ws} ${list} "]"`);
  }

  #string(schema: Record<string, unknown>, path: string): string {
    const format = schema.format;
    if (format !== undefined) {
      if (typeof format !== 'string' || !FORMATS.has(format)) {
        throw unsupported('format', path, `${JSON.stringify(format)} is not supported (supported: ${[...FORMATS].join(', ')})`);
      }
      if ('minLength' in schema || 'maxLength' in schema) throw unsupported('minLength', path, 'beside "format" is not supported');
      return `( "\\"" ${this.#useBase(format)} "\\"" )`;
    }
    const min = schema.minLength === undefined ? 0 : count(schema.minLength, `${path}/minLength`);
    const max = schema.maxLength === undefined ? Infinity : count(schema.maxLength, `${path}/maxLength`);
    if (max < min) throw badSchema(path, 'maxLength is below minLength');
    if (min === 0 && max === Infinity) return this.#useBase('string');
    return `( "\\"" ${repetition(this.#useBase('char'), min, max).trim()} "\\"" )`;
  }
}

/** Bounds become copies of a rule in the grammar, so they are kept to a size it can hold. */
const MAX_BOUND = 100_000;

function count(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw badSchema(path, 'must be a non-negative integer');
  if (value > MAX_BOUND) throw unsupported(path.slice(path.lastIndexOf('/') + 1), path.slice(0, path.lastIndexOf('/')), `above ${MAX_BOUND} is not supported`);
  return value;
}

/** ` x{min,max}` in GBNF, or '' when it is the empty repetition. */
function repetition(x: string, min: number, max: number): string {
  if (max === 0) return '';
  if (max === Infinity) return min === 0 ? ` ${x}*` : min === 1 ? ` ${x}+` : ` ${x}{${min},}`;
  return min === max ? ` ${x}{${min}}` : ` ${x}{${min},${max}}`;
}
