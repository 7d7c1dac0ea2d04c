import type { IO } from './io';

// The migration day's steps (hack/lib/runbook) still call a few actions with a `log` function where those now take an
// IO: their old signatures stay, marked @deprecated, and map `log` through here until the steps pass an IO.

/** An IO whose two streams both go to one line writer. */
export const logIO = (log: (line: string) => void): IO => ({ out: log, err: log });
