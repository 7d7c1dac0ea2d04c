import type { CoturnConfig } from './coturn';
import { janusHostPorts, type Locate } from './cross-instance';
import type { InstanceConfig } from './instance';

const range = (x: { from: number; to: number }) => (x.from === x.to ? `${x.from}` : `${x.from}-${x.to}`);

/**
 * What ties coturn to the instances: no host port of a TURN server may collide with Janus's on the same node,
 * and every instance's TURN_URL must name a configured coturn endpoint and port.
 */
export function coturnIssues(
  c: CoturnConfig,
  instances: readonly InstanceConfig[],
  locate: Locate,
  where: (path: string) => string,
): string[] {
  if (!c.enabled) return [];
  const problems: string[] = [];
  const [min, max] = c.relayRange.split('-').map(Number);
  if (!(min >= 1024 && max <= 65535 && min <= max))
    problems.push(`${where('coturn.relayRange')}: must be an ascending range within 1024-65535`);
  const turnPorts = [
    { protocol: 'TCP', from: c.ports.listening, to: c.ports.listening, what: 'coturn.ports.listening' },
    { protocol: 'UDP', from: c.ports.listening, to: c.ports.listening, what: 'coturn.ports.listening' },
    { protocol: 'TCP', from: c.ports.tls, to: c.ports.tls, what: 'coturn.ports.tls' },
    { protocol: 'TCP', from: c.ports.altTls, to: c.ports.altTls, what: 'coturn.ports.altTls' },
    { protocol: 'UDP', from: min, to: max, what: 'coturn.relayRange' },
  ];
  for (const w of c.workers) {
    instances.forEach((i, index) => {
      if (i.janus.node !== w.node) return;
      for (const t of turnPorts) {
        for (const j of janusHostPorts(i)) {
          if (t.protocol === j.protocol && t.from <= j.to && j.from <= t.to) {
            problems.push(
              `${where(t.what)}: host port ${t.protocol} ${range(t)} of coturn-${w.name} collides on node ${w.node} with ` +
                `${j.protocol} ${range(j)} of janus in ${i.namespace} at ${locate(index, j.path)}`,
            );
          }
        }
      }
    });
  }
  const hosts = new Set([c.host, ...c.workers.flatMap((w) => [w.host, w.publicIp].filter((x): x is string => !!x))]);
  const ports = new Set([c.ports.listening, c.ports.tls, c.ports.altTls]);
  instances.forEach((i, index) => {
    const m = /^turns?:([^:?]+)(?::(\d+))?/.exec(i.app.env.TURN_URL);
    const host = m?.[1];
    const port = Number(m?.[2] ?? (i.app.env.TURN_URL.startsWith('turns:') ? 5349 : 3478));
    if (!host || !hosts.has(host) || !ports.has(port)) {
      problems.push(
        `${locate(index, ['app', 'env', 'TURN_URL'])}: TURN_URL ${i.app.env.TURN_URL} points at no configured coturn endpoint ` +
          `(hosts ${[...hosts].join(', ')}; ports ${[...ports].join(', ')}): calls behind strict NATs would fail`,
      );
    }
  });
  return problems;
}
