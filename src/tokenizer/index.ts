/**
 * Tokenizers built from GGUF metadata: SentencePiece-style BPE (`llama`), byte-level BPE (`gpt2`,
 * with the pre-tokenizers named by `tokenizer.ggml.pre`) and WordPiece (`bert`).
 *
 * Behaviour follows llama.cpp c392e50, with these choices where it has none or fails:
 * - a character a SentencePiece vocabulary cannot spell (no token, no byte tokens) becomes the
 *   UNK token, as in SentencePiece itself; llama.cpp throws there;
 * - lone UTF-16 surrogates in input text are read as U+FFFD;
 * - when several tokens could be the EOT token, the first in llama.cpp's list of turn-end texts
 *   wins (llama.cpp takes whichever its hash map yields first).
 */
export { Tokenizer, type DecodeOptions, type EncodeOptions } from './tokenizer.js';
export type { StreamDecoder } from './stream-decoder.js';
export { SUPPORTED_PRE_TOKENIZERS } from './pretokenizers.js';
export { TokenType, type TokenTypeName, type TokenizerModel } from './vocab.js';
