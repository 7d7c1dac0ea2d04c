export * from './instance';
export * from './load';
export * from './names';
export type { ProbeTiming, Resources } from './primitives';
export { configJsonSchema, type RootConfig, rootSchema } from './schema';
