import { lstatSync, readFileSync, statSync } from 'node:fs';

// The operator's files (roomler.yaml, .env, certificates) as what they are: a path that exists in any form (a
// symlink, dangling or looping; a directory; an unreadable file) is never taken for "absent", and text must be
// valid UTF-8. Every failure is one sentence naming the file; callers wrap it in their own error type.

/** Why a file cannot be used, or undefined when it is a readable regular file (through symlinks). */
export class FileProblem extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path} ${reason}`);
    this.name = 'FileProblem';
  }
}

/**
 * Whether anything is at `path` at all (a dangling symlink is something): lstat, not stat, so a broken link is
 * reported instead of silently skipped.
 */
export function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw new FileProblem(path, `cannot be examined (${(e as NodeJS.ErrnoException).code})`);
  }
}

const why = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'is a dangling symlink (its target does not exist)';
    case 'ELOOP':
      return 'is a symlink loop';
    case 'EISDIR':
      return 'is a directory, not a file';
    case 'EACCES':
    case 'EPERM':
      return 'is not readable (permission denied)';
    default:
      return `cannot be read (${code ?? (e as Error).message})`;
  }
};

/** The bytes of a regular file at `path` (following symlinks); FileProblem for anything else. */
export function readBytes(path: string): Buffer {
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw Object.assign(new Error('directory'), { code: 'EISDIR' });
    if (!st.isFile()) throw new FileProblem(path, 'is not a regular file');
    return readFileSync(path);
  } catch (e) {
    if (e instanceof FileProblem) throw e;
    throw new FileProblem(path, why(e));
  }
}

/** Where the first byte that is not valid UTF-8 stands (offset, line, column), or undefined for valid UTF-8. */
export function invalidUtf8(bytes: Uint8Array): { offset: number; line: number; column: number } | undefined {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return undefined;
  } catch {
    // Find it: decode growing prefixes would be quadratic; walk the byte sequence instead.
    let i = 0;
    while (i < bytes.length) {
      const b = bytes[i];
      const n = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
      if (n === 0 || i + n > bytes.length) break;
      let ok = true;
      for (let k = 1; k < n; k++) if ((bytes[i + k] & 0xc0) !== 0x80) ok = false;
      if (ok && n === 3 && ((b === 0xe0 && bytes[i + 1] < 0xa0) || (b === 0xed && bytes[i + 1] > 0x9f))) ok = false;
      if (ok && n === 4 && ((b === 0xf0 && bytes[i + 1] < 0x90) || (b === 0xf4 && bytes[i + 1] > 0x8f))) ok = false;
      if (!ok) break;
      i += n;
    }
    const before = bytes.subarray(0, i);
    let line = 1;
    let lineStart = 0;
    for (let k = 0; k < before.length; k++) if (before[k] === 0x0a) [line, lineStart] = [line + 1, k + 1];
    const column = new TextDecoder().decode(bytes.subarray(lineStart, i)).length + 1;
    return { offset: i, line, column };
  }
}

/** A text file that must be UTF-8: FileProblem naming the byte offset (and line:column) of the first bad byte. */
export function readUtf8(path: string): string {
  const bytes = readBytes(path);
  const bad = invalidUtf8(bytes);
  if (bad)
    throw new FileProblem(
      path,
      `is not valid UTF-8: byte ${bad.offset} (line ${bad.line}, column ${bad.column}) is 0x${bytes[bad.offset].toString(16).padStart(2, '0')}`,
    );
  return bytes.toString('utf8');
}
