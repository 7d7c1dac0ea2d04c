import { afterAll, beforeAll } from 'vitest';

import type { BackendSpec } from './backends';
import { type Backends, startBackends } from './lab';

/** Starts the backends once for a test file (plus `extra` ones); the returned getter gives them to the tests. */
export function useBackends(extra: BackendSpec[] = []): () => Backends {
  let backends: Backends | undefined;
  beforeAll(async () => {
    backends = await startBackends(extra);
  });
  afterAll(() => backends?.stop());
  return () => backends!;
}
