export * from './byte-source.js';
export * from './http-source.js';
export * from './metadata.js';
export * from './open-source.js';
export * from './reader.js';
export * from './writer.js';
export * from './split.js';
