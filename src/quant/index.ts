export * from './types.js';
export * from './half.js';
export { canDequantize, canQuantize, dequantize, quantize, vecDot, vecDotType } from './codecs.js';
export { IQ4_KVALUES } from './iq4.js';
export { MXFP4_KVALUES } from './mxfp4.js';
