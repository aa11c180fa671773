/** Constrained sampling: GBNF grammars and JSON Schema, applied as a token mask while sampling. */
export { parseGrammar, type CompiledGrammar } from './parser.js';
export { GrammarMatcher, grammarAccepts } from './matcher.js';
export { jsonSchemaToGrammar, jsonObjectGrammar, type JsonSchemaGrammarOptions } from './json-schema.js';
