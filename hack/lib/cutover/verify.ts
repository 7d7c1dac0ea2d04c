import { describeCheck, type Check } from './plan';
import type { NginxControl } from './nginx';
import { httpResponse, joinHostPort, splitHostPort, websocketOpen } from './probes';

export interface CheckOptions {
  readonly nginx: NginxControl;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/**
 * Runs every check through nginx. A WebSocket check also proves where nginx sent it: while the upgraded
 * connection is open, nginx must hold a new established connection to the backend its files name (`current`).
 */
export async function runChecks(checks: readonly Check[], o: CheckOptions): Promise<{ passed: string[]; failed: string[] }> {
  const passed: string[] = [];
  const failed: string[] = [];
  for (const c of checks) {
    const what = describeCheck(c);
    const target = { ...c, timeoutMs: o.timeoutMs, signal: o.signal };
    try {
      if (!c.websocket) {
        const { status, headers } = await httpResponse(target);
        const ok = c.status === undefined ? status < 500 : status === c.status;
        const missing = (c.headers ?? []).filter((h) => headers[h.toLowerCase()] === undefined);
        if (ok && !missing.length) passed.push(`${what}: got ${status}${c.headers?.length ? ` with ${c.headers.map((h) => `${h}: ${headers[h.toLowerCase()]}`).join(', ')}` : ''}`);
        else failed.push(`${what}: got ${status}${missing.length ? ` without ${missing.join(', ')}` : ''}`);
        continue;
      }
      const established = async () => new Set((await o.nginx.connections()).filter((x) => x.state === 'ESTABLISHED').map((x) => `${x.local}>${x.remote}`));
      const before = await established();
      const { status, ws } = await websocketOpen(target);
      if (!ws) {
        (status === c.status ? passed : failed).push(`${what}: got ${status}`);
        continue;
      }
      if (c.status !== undefined && c.status !== 101) {
        ws.terminate();
        failed.push(`${what}: got 101`);
        continue;
      }
      try {
        const { host, port } = splitHostPort(c.current);
        const wanted = (await o.nginx.resolve(host)).map((a) => joinHostPort(a, port));
        let reached = false;
        for (let n = 0; n < 20 && !reached; n++) {
          reached = [...(await established())].some((k) => !before.has(k) && wanted.includes(k.split('>')[1]));
          if (!reached) await new Promise((r) => setTimeout(r, 25));
        }
        if (reached) passed.push(`${what}: upgraded; nginx holds a new connection to ${c.current}`);
        else failed.push(`${what}: upgraded, but nginx opened no connection to ${c.current}: the request went to another backend`);
      } finally {
        ws.terminate();
      }
    } catch (e) {
      if (o.signal?.aborted) throw e;
      failed.push(`${what}: ${(e as Error).message}`);
    }
  }
  return { passed, failed };
}
