export * from './instance';
export * from './load';
export * from './names';
export { rootSchema, configJsonSchema, type RootConfig } from './schema';
export type { ProbeTiming, Resources } from './primitives';
