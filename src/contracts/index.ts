// `@event-streaming-platform/data-models/contracts`: what a browser or another service shares with the schemas,
// with no runtime dependency (no mongoose, no Node built-in): enums, field rules, plain document types and the
// pipeline graph rules.
export * from './enums.js';
export * from './rules.js';
export type * from './documents.js';
export * from './pipelineGraph.js';
export * from './limits.js';
