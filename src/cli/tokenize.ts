/**
 * `wasm-chord tokenize -m MODEL [--special] [--json] TEXT`: the model's token ids and pieces for a
 * text (with the BOS/EOS the model adds).
 * `wasm-chord tokenize -m MODEL --inp FILE [--special]`: llama.cpp's vocab test format. FILE holds
 * strings each followed by "\n__ggml_vocab_test__\n"; one line per string is printed, each id
 * preceded by a space, with no BOS/EOS added (llama.cpp's .out files).
 * `--special` turns on parsing of special-token text such as `<|im_end|>`.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { WasmChordError } from '../errors.js';
import { readGGUFHeader } from '../gguf/open-source.js';
import { Tokenizer } from '../tokenizer/index.js';
import { CommandOutput } from './terminal.js';

const USAGE =
  'usage: wasm-chord tokenize -m <model> [--special] [--json] <text>\n' +
  '       wasm-chord tokenize -m <model> --inp <file> [--special]';

const VOCAB_TEST_SEPARATOR = '\n__ggml_vocab_test__\n';

export async function tokenizeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', short: 'm' },
      special: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      inp: { type: 'string' },
    },
    allowPositionals: true,
  });
  const inpMode = values.inp !== undefined;
  if (values.model === undefined || positionals.length !== (inpMode ? 0 : 1) || (inpMode && values.json)) {
    throw new WasmChordError('INVALID_ARGUMENT', USAGE);
  }
  const tokenizer = await loadTokenizer(values.model);
  const parseSpecial = values.special;
  if (inpMode) {
    const lines = (await readVocabTestStrings(values.inp!)).map((text) => {
      const ids = tokenizer.encode(text, { addSpecial: false, parseSpecial });
      return `${ids.map((id) => ` ${id}`).join('')}\n`;
    });
    const out = new CommandOutput({ raw: true });
    out.write(lines.join(''));
    await out.end();
    return 0;
  }
  const ids = tokenizer.encode(positionals[0]!, { addSpecial: true, parseSpecial });
  const utf8 = new TextDecoder();
  const pieces = ids.map((id) => utf8.decode(tokenizer.tokenToPiece(id, { special: true })));
  const out = new CommandOutput({ raw: values.json });
  if (values.json) {
    out.write(`${JSON.stringify({ ids, pieces })}\n`);
  } else {
    out.write(ids.map((id, i) => `${String(id).padStart(6)} -> ${JSON.stringify(pieces[i])}\n`).join(''));
  }
  await out.end();
  return 0;
}

async function loadTokenizer(location: string): Promise<Tokenizer> {
  return Tokenizer.fromGGUF((await readGGUFHeader(location)).metadata);
}

/** The strings of an .inp file; text after the last separator is not a test string. */
async function readVocabTestStrings(path: string): Promise<string[]> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (err) {
    throw new WasmChordError('SOURCE_IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const strings = content.split(VOCAB_TEST_SEPARATOR);
  strings.pop();
  return strings;
}
