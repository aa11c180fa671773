/**
 * Renders a Jinja template with @huggingface/jinja inside bounds: a chat template comes from the
 * model file, so it is as hostile as the file. The library itself has no limits (`range(1e9)`
 * builds a billion-element array and aborts V8; nested loops run for minutes; a string doubled in
 * a loop exhausts memory), and it renders synchronously, so the bounds are enforced from inside
 * its evaluation, without changing what a template means:
 *
 * - the template source is refused past `maxTemplateLength` before it is parsed;
 * - every evaluation step goes through `Interpreter.evaluate`, which this subclass counts (steps)
 *   and times (a deadline checked every 1024 steps);
 * - every value an evaluation produces is measured (the length of the text it would print, its
 *   item count and nesting depth; memoised per value, values are immutable except namespaces)
 *   and refused past the limits, so no value, and no output, outgrows them;
 * - the few built-ins whose output can exceed their inputs by a factor the template chooses are
 *   checked before they run: `range` (replaced by a bounded one), the `indent`, `join`, `tojson`
 *   and `replace` filters, and the string method `replace`.
 *
 * A template that hits a limit throws TemplateLimitError; the caller turns it into CHAT_TEMPLATE.
 */
import * as jinja from '@huggingface/jinja';

export interface TemplateLimits {
  /** Longest template source (UTF-16 code units). */
  readonly maxTemplateLength: number;
  /** Most evaluation steps (one per expression or statement evaluated). */
  readonly maxSteps: number;
  /** Wall-clock time for one render, in milliseconds. */
  readonly timeoutMs: number;
  /** Longest text any value may print as, the output included (UTF-16 code units). */
  readonly maxTextLength: number;
  /** Most items in one array (loops first create a scope per item). */
  readonly maxItems: number;
  /** Deepest nesting of arrays and mappings. */
  readonly maxDepth: number;
}

/**
 * Defaults: far above what real chat templates need (the largest are a few tens of KB and render
 * in milliseconds), far below what hurts a browser tab. Text and items also grow with the input:
 * see `boundsFor`.
 */
export const DEFAULT_TEMPLATE_LIMITS: TemplateLimits = {
  maxTemplateLength: 256 * 1024,
  maxSteps: 5_000_000,
  timeoutMs: 2000,
  maxTextLength: 8 * 1024 * 1024,
  maxItems: 100_000,
  maxDepth: 64,
};

export class TemplateLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateLimitError';
  }
}

/** The runtime values of the library, seen through the fields every one of them has. */
interface Value {
  readonly type: string;
  readonly value: unknown;
  readonly builtins?: ReadonlyMap<string, Value>;
}

/** What printing a value may cost: text length, items and depth. */
interface Measure {
  readonly text: number;
  readonly items: number;
  readonly depth: number;
  /** Holds a namespace (the only mutable value), so it cannot be memoised. */
  readonly volatile: boolean;
}

type Node = { readonly type: string; readonly [field: string]: unknown };

// The library's typings do not resolve under NodeNext (extensionless relative imports), so the
// little of its API used here is typed here.
interface Environment {
  set(name: string, value: unknown): Value;
  setVariable(name: string, value: Value): Value;
}
interface InterpreterApi {
  run(program: unknown): Value;
  evaluate(statement: unknown, environment: Environment): Value;
}
const Environment = jinja.Environment as unknown as new (parent?: Environment) => Environment;
const Interpreter = jinja.Interpreter as unknown as new (env: Environment) => InterpreterApi;
const parse = jinja.parse as unknown as (tokens: unknown) => unknown;
const tokenize = jinja.tokenize as unknown as (source: string, options: { lstrip_blocks: boolean; trim_blocks: boolean }) => unknown;

interface FilterCall {
  /** The call's argument nodes: evaluateArguments receives this very array. */
  readonly args: unknown;
  readonly name: string;
  readonly operand: Value;
}

/** Numbers print in at most 24 characters; booleans, none and functions as a short word. */
const SCALAR: Measure = { text: 24, items: 1, depth: 0, volatile: false };
const CONTAINERS = new Set(['ArrayValue', 'TupleValue', 'ObjectValue', 'KeywordArgumentsValue', 'NamespaceValue']);
/** Names under which evaluated operands are handed back to the library (not valid identifiers). */
const HOLE_OBJECT = '\u0000object';
const HOLE_PROPERTY = '\u0000property';

class BoundedInterpreter extends Interpreter {
  #steps = 0;
  readonly #deadline: number;
  readonly #measures = new WeakMap<object, Measure>();
  /** The filter call whose arguments are being evaluated, to check them before it runs. */
  #filter: FilterCall | undefined;

  constructor(
    env: Environment,
    readonly limits: TemplateLimits,
  ) {
    super(env);
    this.#deadline = performance.now() + limits.timeoutMs;
  }

  override evaluate(statement: unknown, environment: Environment): Value {
    if (++this.#steps > this.limits.maxSteps) throw new TemplateLimitError(`it took more than ${this.limits.maxSteps} evaluation steps`);
    if ((this.#steps & 1023) === 0 && performance.now() > this.#deadline) {
      throw new TemplateLimitError(`it ran for more than ${this.limits.timeoutMs} ms`);
    }
    const node = statement as unknown as Node | undefined;
    const result =
      node?.type === 'MemberExpression' && needsOwnMemberAccess(node)
        ? this.#member(node, environment)
        : super.evaluate(statement, environment);
    this.measure(result);
    return result;
  }

  /** Measures a value and refuses it when it exceeds the limits. */
  measure(value: Value, depth = 0): Measure {
    const l = this.limits;
    if (value.type === 'StringValue') {
      const text = (value.value as string).length + 2;
      if (text > l.maxTextLength) throw new TemplateLimitError(`a string would print as more than ${l.maxTextLength} characters`);
      return { text, items: 1, depth: 0, volatile: false };
    }
    if (!CONTAINERS.has(value.type)) return SCALAR;
    const known = this.#measures.get(value);
    if (known) return known;
    if (depth > l.maxDepth) throw new TemplateLimitError(`a value nests deeper than ${l.maxDepth} levels (or contains itself)`);
    const isArray = Array.isArray(value.value);
    const size = isArray ? (value.value as Value[]).length : (value.value as Map<string, Value>).size;
    if (size > l.maxItems) throw new TemplateLimitError(`a${describe(value)} has ${size} items (limit ${l.maxItems})`);
    let text = 2;
    let items = 1;
    let inner = 0;
    let volatile = value.type === 'NamespaceValue';
    const add = (key: string, item: Value) => {
      const c = this.measure(item, depth + 1);
      text += key.length + 4 + c.text;
      items += c.items;
      if (c.depth > inner) inner = c.depth;
      if (c.volatile) volatile = true;
      if (text > l.maxTextLength) throw new TemplateLimitError(`a${describe(value)} would print as more than ${l.maxTextLength} characters`);
    };
    if (isArray) for (const item of value.value as Value[]) add('', item);
    else for (const [key, item] of value.value as Map<string, Value>) add(key, item);
    const m: Measure = { text, items, depth: inner + 1, volatile };
    if (m.depth > l.maxDepth) throw new TemplateLimitError(`a value nests deeper than ${l.maxDepth} levels`);
    if (!volatile) this.#measures.set(value, m);
    return m;
  }

  /**
   * Member access evaluated in two halves, so that the string method `replace` can be bounded
   * knowing its subject: the object (and a computed property) are evaluated here, once, then
   * handed to the library's own member lookup under names no template can write.
   */
  #member(node: Node, environment: Environment): Value {
    const object = this.evaluate(node.object, environment);
    const scope = new Environment(environment);
    scope.setVariable(HOLE_OBJECT, object);
    let property = node.property as Node;
    let name: unknown = property.type === 'Identifier' && !node.computed ? property.value : undefined;
    if (node.computed) {
      const key = this.evaluate(property, environment);
      scope.setVariable(HOLE_PROPERTY, key);
      name = key.value;
      property = { type: 'Identifier', value: HOLE_PROPERTY };
    }
    const result = super.evaluate({ type: 'MemberExpression', object: { type: 'Identifier', value: HOLE_OBJECT }, property, computed: node.computed }, scope);
    if (name === 'replace' && object.type === 'StringValue' && result.type === 'FunctionValue') {
      const original = result.value as (args: Value[], scope: Environment) => Value;
      const FunctionValue = result.constructor as new (fn: (args: Value[], scope: Environment) => Value) => Value;
      const text = object.value as string;
      return new FunctionValue((args, s) => {
        this.#checkReplace(text, args[0], args[1], countArgument(args));
        return original(args, s);
      });
    }
    return result;
  }

  /** Called by the library for every call's arguments; checks those of amplifying filters. */
  checkArguments(args: unknown, evaluated: [Value[], Map<string, Value>]): void {
    const f = this.#filter;
    if (!f || f.args !== args) return;
    const [positional, keywords] = evaluated;
    const arg = (i: number, key: string) => positional[i] ?? keywords.get(key);
    const operand = f.operand;
    const l = this.limits.maxTextLength;
    switch (f.name) {
      case 'indent': {
        const width = arg(0, 'width');
        if (operand.type === 'StringValue' && width?.type === 'IntegerValue') {
          const text = operand.value as string;
          estimate(text.length + lines(text) * Math.max(0, width.value as number), l, 'indent');
        }
        break;
      }
      case 'join': {
        const sep = arg(0, 'separator');
        if (sep?.type === 'StringValue') {
          const items = operand.type === 'StringValue' ? (operand.value as string).length : this.measure(operand).items;
          estimate(this.measure(operand).text + items * (sep.value as string).length, l, 'join');
        }
        break;
      }
      case 'tojson': {
        const indent = keywords.get('indent');
        const separators = keywords.get('separators');
        const m = this.measure(operand);
        let perItem = 4 + (indent?.type === 'IntegerValue' ? Math.max(0, indent.value as number) * (m.depth + 1) + 1 : 0);
        if (separators && Array.isArray(separators.value)) {
          for (const s of separators.value as Value[]) if (s.type === 'StringValue') perItem += (s.value as string).length;
        }
        // JSON escapes a character in at most 6 (\u001b).
        estimate(6 * m.text + m.items * perItem, l, 'tojson');
        break;
      }
      case 'replace': {
        const count = arg(2, 'count');
        if (operand.type === 'StringValue') {
          this.#checkReplace(operand.value as string, positional[0], positional[1], count?.type === 'IntegerValue' ? (count.value as number) : undefined);
        }
        break;
      }
    }
  }

  /** Bounds `text.replace(old, new, count)` before it runs: exactly how long its result is. */
  #checkReplace(text: string, old: Value | undefined, replacement: Value | undefined, count: number | undefined): void {
    if (old?.type !== 'StringValue' || replacement?.type !== 'StringValue') return;
    const from = old.value as string;
    const to = replacement.value as string;
    if (to.length <= from.length) return;
    let n = 0;
    if (from.length === 0) n = text.length + 1;
    else for (let at = text.indexOf(from); at >= 0; at = text.indexOf(from, at + from.length)) n++;
    if (count !== undefined && count >= 0) n = Math.min(n, count);
    estimate(text.length + n * (to.length - from.length), this.limits.maxTextLength, 'replace');
  }

  /** The filter whose arguments come next (see checkArguments); returns the enclosing one. */
  enterFilter(filterNode: Node, operand: Value): FilterCall | undefined {
    const previous = this.#filter;
    const callee = filterNode.callee as Node | undefined;
    if (filterNode.type === 'CallExpression' && callee?.type === 'Identifier') {
      this.#filter = { args: filterNode.args, name: callee.value as string, operand };
    }
    return previous;
  }

  leaveFilter(previous: FilterCall | undefined): void {
    this.#filter = previous;
  }
}

// applyFilter and evaluateArguments are private in the library's typings but ordinary methods;
// they are wrapped here (not re-implemented) to see a filter's arguments before it runs.
type Hooked = {
  applyFilter(this: BoundedInterpreter, operand: Value, filterNode: Node, environment: Environment): Value;
  evaluateArguments(this: BoundedInterpreter, args: unknown, environment: Environment): [Value[], Map<string, Value>];
};
const base = Interpreter.prototype as unknown as Hooked;
const hooked = BoundedInterpreter.prototype as unknown as Hooked;
if (typeof base.applyFilter !== 'function' || typeof base.evaluateArguments !== 'function') {
  throw new Error('@huggingface/jinja changed: Interpreter.applyFilter/evaluateArguments are gone');
}
hooked.applyFilter = function (operand, filterNode, environment) {
  const previous = this.enterFilter(filterNode, operand);
  try {
    return base.applyFilter.call(this, operand, filterNode, environment);
  } finally {
    this.leaveFilter(previous);
  }
};
hooked.evaluateArguments = function (args, environment) {
  const evaluated = base.evaluateArguments.call(this, args, environment);
  this.checkArguments(args, evaluated);
  return evaluated;
};

/** Computed access, and the `replace` method: see BoundedInterpreter.#member. */
function needsOwnMemberAccess(node: Node): boolean {
  const property = node.property as Node;
  if (!node.computed) return property.type === 'Identifier' && property.value === 'replace';
  return property.type !== 'SliceExpression' && property.type !== 'IntegerLiteral' && !(property.type === 'StringLiteral' && property.value !== 'replace');
}

function countArgument(args: readonly Value[]): number | undefined {
  const third = args[2];
  const count = third?.type === 'KeywordArgumentsValue' ? (third.value as Map<string, Value>).get('count') : third;
  return count?.type === 'IntegerValue' ? (count.value as number) : undefined;
}

function estimate(length: number, limit: number, what: string): void {
  if (length > limit) throw new TemplateLimitError(`${what} would produce more than ${limit} characters`);
}

function lines(text: string): number {
  let n = 1;
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) n++;
  return n;
}

function describe(value: Value): string {
  const kind = value.type.replace(/Value$/, '').toLowerCase() || 'value';
  return /^[aeiou]/.test(kind) ? `n ${kind}` : ` ${kind}`;
}

/** `range` as Python's, refusing more than `maxItems` values before building any. */
function boundedRange(maxItems: number) {
  return (...args: unknown[]): number[] => {
    const nums = args.map(Number);
    if (nums.length === 0 || nums.length > 3 || nums.some((n) => !Number.isFinite(n))) throw new Error('range() takes 1 to 3 finite numbers');
    const [start, stop, step] = nums.length === 1 ? [0, nums[0]!, 1] : [nums[0]!, nums[1]!, nums[2] ?? 1];
    if (step === 0) throw new Error('range() step must not be zero');
    const count = Math.max(0, Math.ceil((stop - start) / step));
    if (count > maxItems) throw new TemplateLimitError(`range() of ${count} values (limit ${maxItems})`);
    return Array.from({ length: count }, (_, i) => start + i * step);
  };
}

/** `strftime_now(format)` as the library and transformers give it (local time). */
function strftimeNow(format: unknown): string {
  if (typeof format !== 'string') throw new Error('strftime_now() takes a format string');
  const d = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  const month = (style: 'long' | 'short') => new Intl.DateTimeFormat('en-US', { month: style }).format(d);
  const day = (style: 'long' | 'short') => new Intl.DateTimeFormat('en-US', { weekday: style }).format(d);
  return format.replace(/%[YymdbBaAHMSp%]/g, (t) => {
    switch (t) {
      case '%Y': return String(d.getFullYear());
      case '%y': return pad(d.getFullYear() % 100);
      case '%m': return pad(d.getMonth() + 1);
      case '%d': return pad(d.getDate());
      case '%b': return month('short');
      case '%B': return month('long');
      case '%a': return day('short');
      case '%A': return day('long');
      case '%H': return pad(d.getHours());
      case '%M': return pad(d.getMinutes());
      case '%S': return pad(d.getSeconds());
      case '%p': return d.getHours() < 12 ? 'AM' : 'PM';
      default: return '%';
    }
  });
}

/** A parsed template (the library's Program). */
export type ParsedTemplate = ReturnType<typeof parse>;

/** Parses `template`, refusing one longer than the limit before reading it. */
export function parseBounded(template: string, limits: TemplateLimits): ParsedTemplate {
  if (template.length > limits.maxTemplateLength) {
    throw new TemplateLimitError(`the template is ${template.length} characters long (limit ${limits.maxTemplateLength})`);
  }
  return parse(tokenize(template, { lstrip_blocks: true, trim_blocks: true }));
}

/**
 * Renders a parsed template with `variables` within `limits`. Library errors (type errors,
 * `raise_exception`) propagate as they are; a limit throws TemplateLimitError.
 */
export function renderBounded(program: ParsedTemplate, variables: Readonly<Record<string, unknown>>, limits: TemplateLimits): string {
  const env = new Environment();
  const globals: Record<string, unknown> = {
    false: false,
    true: true,
    none: null,
    False: false,
    True: true,
    None: null,
    raise_exception: (message: unknown) => {
      throw new Error(String(message));
    },
    range: boundedRange(limits.maxItems),
    strftime_now: strftimeNow,
  };
  for (const [name, value] of Object.entries(variables)) env.set(name, value);
  for (const [name, value] of Object.entries(globals)) if (!Object.hasOwn(variables, name)) env.set(name, value);
  const interpreter = new BoundedInterpreter(env, limits);
  const result = interpreter.run(program);
  interpreter.measure(result);
  return result.value as string;
}
