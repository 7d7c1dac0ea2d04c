import type { Locate } from './cross-instance';
import { appConfigData, type InstanceConfig } from './instance';

// What the API server and the kernel refuse by size, checked before anything is written: a ConfigMap or a Secret
// holds at most 1 MiB of data (core.MaxSecretSize, the sum of the values' bytes), and a value the app reads
// through envFrom becomes one environment string `KEY=value`, which execve refuses above 128 KiB (Linux
// MAX_ARG_STRLEN): the API server would take it, and the container would never start.

/** core.MaxSecretSize: the API server's limit on the data of one ConfigMap or Secret. */
export const MAX_DATA_BYTES = 1024 * 1024;
/** Linux MAX_ARG_STRLEN (32 pages): the longest single argument or environment string execve accepts. */
export const MAX_ENV_STRING_BYTES = 32 * 4096;

export const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

export const showBytes = (n: number) =>
  n >= 2 ** 20
    ? `${n} bytes (${(n / 2 ** 20).toFixed(2)} MiB)`
    : n >= 2 ** 10
      ? `${n} bytes (${(n / 2 ** 10).toFixed(1)} KiB)`
      : `${n} bytes`;

/** An environment string `KEY=value` too long for execve, else undefined. */
export function envStringProblem(key: string, value: string): string | undefined {
  const size = bytes(key) + 1 + bytes(value) + 1;
  return size > MAX_ENV_STRING_BYTES
    ? `the environment variable ${key} would be ${showBytes(size)}; Linux refuses one over 131072 bytes (MAX_ARG_STRLEN, 128 KiB), so ` +
        `the container could never start`
    : undefined;
}

/** Each value's size in bytes, as the API server counts it (Go strings are UTF-8). */
export const byteSizes = (data: Readonly<Record<string, string>>) =>
  Object.fromEntries(Object.entries(data).map(([k, v]) => [k, bytes(v)]));

/** The data of one ConfigMap or Secret (each value's bytes) over the API server's limit, naming its largest value. */
export function dataSizeProblem(what: string, valueBytes: Readonly<Record<string, number>>): { key: string; message: string } | undefined {
  const sizes = Object.entries(valueBytes).map(([key, size]) => ({ key, size }));
  const total = sizes.reduce((n, s) => n + s.size, 0);
  if (total <= MAX_DATA_BYTES) return undefined;
  const largest = sizes.reduce((a, b) => (b.size > a.size ? b : a));
  return {
    key: largest.key,
    message:
      `${what} would hold ${showBytes(total)} of data, more than the 1048576 bytes (1 MiB) the API server accepts per ConfigMap ` +
      `or Secret; ${largest.key} alone is ${showBytes(largest.size)}`,
  };
}

/** Each instance's app ConfigMap: every value a valid environment string, the whole within 1 MiB. */
export function sizeIssues(instances: readonly InstanceConfig[], locate: Locate): string[] {
  return instances.flatMap((i, index) => {
    const data = appConfigData(i);
    const envKey = (key: string) => (key in i.app.env ? ['app', 'env', key] : key === 'PORT' ? ['app', 'port'] : ['turn', 'user']);
    const perValue = Object.entries(data).flatMap(([key, value]) => {
      const p = envStringProblem(key, value);
      return p ? [`${locate(index, envKey(key))}: ${p}`] : [];
    });
    if (perValue.length) return perValue;
    const total = dataSizeProblem(`ConfigMap ${i.namespace}/${i.app.configMapName}`, byteSizes(data));
    return total ? [`${locate(index, envKey(total.key))}: ${total.message}`] : [];
  });
}
