// `@event-streaming-platform/data-models/contracts`: the rules a browser or another service shares with the
// schemas, with no runtime dependency (no mongoose, no Node built-in).
export * from './enums.js';
export * from './rules.js';
