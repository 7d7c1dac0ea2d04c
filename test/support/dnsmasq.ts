import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

import { accepts, freePort } from '../../hack/lib/process/ports';

// Debian's dnsmasq on a loopback high port, answering only with the records a test gives it: the DNS server that
// `doctor` and the migration day ask (their `doctor.dnsServer`), so the answers are the test's, not the network's.

export interface Dns {
  /** `127.0.0.1:<port>`, as `doctor.dnsServer` takes it. */
  readonly server: string;
  readonly port: number;
  stop(): void;
}

/**
 * A dnsmasq with `records`: `name` → `address` as --host-record (exactly that name), or `/domain/` → `address` as
 * --address (every name under it). Resolves once it accepts connections (its TCP listener starts with the UDP one).
 */
export async function startDnsmasq(records: Readonly<Record<string, string>>): Promise<Dns> {
  const port = await freePort();
  const answers = Object.entries(records).map(([name, ip]) =>
    name.startsWith('/') ? `--address=${name}${ip}` : `--host-record=${name},${ip}`,
  );
  const child = spawn(
    '/usr/sbin/dnsmasq',
    [
      '--no-daemon',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--bind-interfaces',
      '--listen-address=127.0.0.1',
      `--port=${port}`,
      ...answers,
    ],
    { stdio: 'ignore' },
  );
  for (let n = 0; !(await accepts(port)); n++) {
    if (child.exitCode !== null || n > 100) throw new Error(`dnsmasq did not start on 127.0.0.1:${port} (exit ${child.exitCode})`);
    await sleep(50);
  }
  return { server: `127.0.0.1:${port}`, port, stop: () => child.kill() };
}
