import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { freePort } from '../../hack/lib/process/ports';

export interface Sshd {
  readonly port: number;
  readonly keyPath: string;
  readonly wrongKeyPath: string;
  readonly knownHostsFile: string;
  stop(): void;
}

/**
 * Debian's sshd on 127.0.0.1 at a high port, as "the data node": generated host and user keys in `dir`, a
 * private config (no PAM, key auth only), stopped by `stop()`. `wrap` runs it under another command, e.g.
 * setpriv to take root's DAC override away from everything the node runs.
 */
export async function startSshd(dir: string, o: { wrap?: readonly string[] } = {}): Promise<Sshd> {
  mkdirSync('/run/sshd', { recursive: true }); // privilege separation directory
  const key = (name: string) => {
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)]);
    return join(dir, name);
  };
  const hostKey = key('host_key');
  const keyPath = key('user_key');
  const wrongKeyPath = key('wrong_key');
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${keyPath}.pub`));
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      'LogLevel ERROR',
    ].join('\n') + '\n',
  );
  const knownHostsFile = join(dir, 'known_hosts');
  writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${readFileSync(`${hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
  const [file, ...args] = [...(o.wrap ?? []), '/usr/sbin/sshd', '-D', '-e', '-f', config];
  const child: ChildProcess = spawn(file, args, { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = spawnSync('ssh', [
      '-p',
      String(port),
      '-i',
      keyPath,
      '-o',
      'BatchMode=yes',
      '-o',
      `UserKnownHostsFile=${knownHostsFile}`,
      'root@127.0.0.1',
      'true',
    ]);
    if (probe.status === 0) break;
    if (Date.now() > deadline) throw new Error(`sshd did not come up: ${probe.stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, keyPath, wrongKeyPath, knownHostsFile, stop: () => child.kill('SIGTERM') };
}
