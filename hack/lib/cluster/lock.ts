import { setTimeout as sleep } from 'node:timers/promises';

import type { K8sObject } from '../../../lib/manifest';
import { UserError } from '../cli/errors';
import type { IO } from '../cli/io';
import type { Guard } from '../process/interrupt';
import { LOCK_TAKEN } from '../process/lock';
import { explainKubectlError } from './causes';
import type { Kubectl } from './kubectl';
import { whoami } from './releases';

// The cluster-side lock of every command that changes what deploy manages (deploy, rollback and its pruning,
// secrets apply): a coordination.k8s.io/v1 Lease in deploy.historyNamespace, the object Kubernetes' own leader
// election uses. Taking it is a create (only one creator wins) or, when it is free or expired, a replace conditioned
// on the resourceVersion that was read (only one replacer wins). The holder renews it every RENEW_SECONDS; a holder
// killed with -9 or cut off from the API server stops renewing, and the lock expires LEASE_SECONDS after the last
// renewal. A holder that finds at a renewal that someone else took the lock (--force-unlock) stops at its next step.

export const LOCK_NAME = 'roomler-deploy-lock';
export const LEASE_SECONDS = 60;
const RENEW_SECONDS = 10;
const OPERATION = 'roomler.dev/operation';
const REVISION = 'roomler.dev/revision';

/** The Lease's MicroTime: RFC 3339 with six fractional digits. */
const microTime = (d = new Date()) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
const ago = (t: string | undefined) => (t ? `${Math.max(0, Math.round((Date.now() - Date.parse(t)) / 1000))} s ago` : 'never');

export interface LockHolder {
  readonly holder: string;
  readonly operation: string;
  readonly since?: string;
  readonly renewed?: string;
  readonly revision?: string;
  readonly expired: boolean;
}

/** Who holds a Lease object, and whether its holder stopped renewing it. */
export function holderOf(lease: K8sObject): LockHolder | undefined {
  const holder = lease?.spec?.holderIdentity;
  if (!holder) return undefined;
  const renewed = lease.spec.renewTime ?? lease.spec.acquireTime;
  const duration = Number(lease.spec.leaseDurationSeconds ?? LEASE_SECONDS);
  return {
    holder,
    operation: lease.metadata?.annotations?.[OPERATION] ?? 'unknown',
    since: lease.spec.acquireTime,
    renewed,
    revision: lease.metadata?.annotations?.[REVISION],
    expired: !renewed || Date.parse(renewed) + duration * 1000 < Date.now(),
  };
}

/** "alice@ops1 (pid 4242), deploy of revision 7 since 2026-…Z, last renewed 3 s ago" */
export const describeHolder = (h: LockHolder) =>
  `${h.holder}, ${h.operation}${h.revision ? ` of revision ${h.revision}` : ''} since ${h.since ?? '(unknown)'}, ` +
  `last renewed ${ago(h.renewed)}`;

/** The lock as the cluster holds it now (undefined: free, or no Lease). */
export async function readLock(kubectl: Kubectl, namespace: string): Promise<LockHolder | undefined> {
  const r = await kubectl.run(['get', 'lease', LOCK_NAME, '-n', namespace, '-o', 'json'], { timeoutMs: 30_000 });
  if (r.exitCode !== 0) {
    if (/NotFound|not found/.test(r.stderr)) return undefined;
    throw new UserError(`reading the deploy lock (Lease ${namespace}/${LOCK_NAME}) failed: ${explainKubectlError(r.stderr)}`);
  }
  return holderOf(JSON.parse(r.stdout));
}

/** The options of every command that takes the lock. */
export const LOCK_OPTIONS = {
  'wait-lock': {
    type: 'number',
    value: 'SECONDS',
    description: 'when another deploy, rollback or secrets apply holds the cluster lock, wait this long for it',
    defaultText: 'exit 75 at once, naming the holder',
  },
  'force-unlock': {
    type: 'boolean',
    description: 'take the cluster lock from the run holding it (only when that run is gone; a live one stops at its next step)',
  },
} as const;

/** How a command waits for, or takes, the cluster-side lock (its --wait-lock and --force-unlock). */
export interface LockOptions {
  /** `--wait-lock SECONDS`: wait for another run's lock instead of exiting 75 at once. */
  readonly waitLockSeconds?: number;
  /** `--force-unlock`: take the lock from a run that still holds it. */
  readonly forceUnlock?: boolean;
}

export interface AcquireOptions {
  /** What the holder does, shown to whoever finds the lock taken: deploy, deploy rollback, secrets apply. */
  readonly operation: string;
  /** `--wait-lock SECONDS`: wait that long for the holder to finish (or its lock to expire) before refusing. */
  readonly waitSeconds?: number;
  /** `--force-unlock`: take the lock even from a holder that still renews it. */
  readonly forceUnlock?: boolean;
  /** Where it says that it waits for the lock, or took it over. */
  readonly io: IO;
  /** Waiting stops at an interruption. */
  readonly guard?: Guard;
}

/** The Lease this run writes to take the lock: over `previous` (conditioned on its resourceVersion), or new. */
function leaseFor(namespace: string, operation: string, previous?: K8sObject, now = microTime()): K8sObject {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: LOCK_NAME,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': 'roomler-deploy' },
      annotations: { [OPERATION]: operation },
      ...(previous ? { resourceVersion: previous.metadata.resourceVersion } : {}),
    },
    spec: {
      holderIdentity: ClusterLock.identity(),
      acquireTime: now,
      renewTime: now,
      leaseDurationSeconds: LEASE_SECONDS,
      leaseTransitions: (previous?.spec?.leaseTransitions ?? 0) + (previous ? 1 : 0),
    },
  };
}

/** The refusal when another run holds the lock (exit 75). */
function lockedBy(held: LockHolder, namespace: string, waitSeconds: number | undefined): UserError {
  const wait = waitSeconds ? `waited ${waitSeconds} s (--wait-lock); ` : '';
  return new UserError(
    `the cluster is locked by ${describeHolder(held)} (Lease ${namespace}/${LOCK_NAME}); ${wait}nothing was changed. ` +
      `Wait for it with --wait-lock SECONDS; if that run is gone, its lock expires ${LEASE_SECONDS} s after its last renewal, ` +
      'or take it now with --force-unlock',
    LOCK_TAKEN,
  );
}

/** One attempt to take the lock: taken, `again` (another run was faster: look again), or who holds it. */
type Attempt = { taken: K8sObject } | 'again' | { heldBy: LockHolder };

export class ClusterLock {
  private resourceVersion: string;
  private lease: K8sObject;
  private timer: NodeJS.Timeout | undefined;
  private lastRenewal = Date.now();
  /** Set when another run took the lock: why this run must stop. */
  private lostReason: string | undefined;
  private renewing: Promise<void> | undefined;

  private constructor(
    private readonly kubectl: Kubectl,
    readonly namespace: string,
    lease: K8sObject,
  ) {
    this.lease = lease;
    this.resourceVersion = lease.metadata.resourceVersion;
    this.timer = setInterval(() => void this.renew(), RENEW_SECONDS * 1000);
  }

  /** This run's identity in the Lease: user@host and pid. */
  static identity(): string {
    return `${whoami()} (pid ${process.pid})`;
  }

  /** Takes the lock or throws a UserError with exit 75 naming the holder; the history namespace must exist. */
  static async acquire(kubectl: Kubectl, namespace: string, o: AcquireOptions): Promise<ClusterLock> {
    const deadline = Date.now() + (o.waitSeconds ?? 0) * 1000;
    let waitingFor: string | undefined;
    for (;;) {
      o.guard?.check();
      const attempt = await ClusterLock.attempt(kubectl, namespace, o);
      if (attempt === 'again') continue;
      if ('taken' in attempt) return new ClusterLock(kubectl, namespace, attempt.taken);
      const held = attempt.heldBy;
      if (Date.now() >= deadline) throw lockedBy(held, namespace, o.waitSeconds);
      if (waitingFor !== held.holder) {
        o.io.out(`lock: waiting up to ${Math.round((deadline - Date.now()) / 1000)} s for the deploy lock held by ${describeHolder(held)}`);
      }
      waitingFor = held.holder;
      await (o.guard ? o.guard.race(sleep(2000)) : sleep(2000));
    }
  }

  /**
   * Reads the Lease, then creates it when there is none, or replaces it (conditioned on the resourceVersion read)
   * when it is free, expired or --force-unlock takes it.
   */
  private static async attempt(kubectl: Kubectl, namespace: string, o: AcquireOptions): Promise<Attempt> {
    const lease = `Lease ${namespace}/${LOCK_NAME}`;
    // The Lease usually exists (given back by the last run): read it, then create it only when it does not.
    const got = await kubectl.run(['get', 'lease', LOCK_NAME, '-n', namespace, '-o', 'json'], { timeoutMs: 30_000 });
    if (got.exitCode !== 0) {
      if (!/NotFound|not found/.test(got.stderr) || /forbidden/i.test(got.stderr)) {
        throw new UserError(`reading the deploy lock (${lease}) failed: ${explainKubectlError(got.stderr)}`);
      }
      const input = JSON.stringify(leaseFor(namespace, o.operation));
      const created = await kubectl.run(['create', '-f', '-', '-o', 'json'], { input, timeoutMs: 30_000 });
      if (created.exitCode === 0) return { taken: JSON.parse(created.stdout) };
      if (/AlreadyExists|already exists/.test(created.stderr)) return 'again'; // another run created it first
      throw new UserError(`taking the deploy lock (${lease}) failed: ${explainKubectlError(created.stderr)}`);
    }
    const current = JSON.parse(got.stdout);
    const held = holderOf(current);
    if (held && !held.expired && !o.forceUnlock) return { heldBy: held };
    const input = JSON.stringify(leaseFor(namespace, o.operation, current));
    const replaced = await kubectl.run(['replace', '-f', '-', '-o', 'json'], { input, timeoutMs: 30_000 });
    if (replaced.exitCode === 0) {
      if (held?.expired) o.io.out(`lock: took over the expired lock of ${describeHolder(held)} (not renewed for ${LEASE_SECONDS} s)`);
      else if (held) o.io.out(`lock: --force-unlock: took the deploy lock from ${describeHolder(held)}; that run stops at its next step`);
      return { taken: JSON.parse(replaced.stdout) };
    }
    if (/Conflict|the object has been modified/.test(replaced.stderr)) return 'again'; // someone else was faster
    throw new UserError(`taking the deploy lock (${lease}) failed: ${explainKubectlError(replaced.stderr)}`);
  }

  get holder(): string {
    return this.lease.spec.holderIdentity;
  }

  get since(): string {
    return this.lease.spec.acquireTime;
  }

  /** Throws when another run took the lock (or it could not be renewed until it expired): this run must stop. */
  assertHeld(): void {
    if (!this.lostReason && Date.now() - this.lastRenewal > LEASE_SECONDS * 1000) {
      this.lostReason =
        `the deploy lock could not be renewed for ${LEASE_SECONDS} s (the API server did not answer): ` + 'another run may hold it now';
    }
    if (this.lostReason) throw new UserError(`stopped: ${this.lostReason}`);
  }

  /** When the lock expires if this run renews it no more. */
  get expiresAt(): Date {
    return new Date(this.lastRenewal + LEASE_SECONDS * 1000);
  }

  get lost(): string | undefined {
    return this.lostReason;
  }

  /** Names the revision this run records, so whoever finds the lock taken sees it. Renews the lock. */
  async setRevision(revision: number): Promise<void> {
    this.lease.metadata.annotations = { ...this.lease.metadata.annotations, [REVISION]: String(revision) };
    await this.renew();
  }

  /** Renews the lease; notices when someone else took it. Never throws. */
  private renew(): Promise<void> {
    this.renewing ??= (async () => {
      try {
        for (let attempt = 0; attempt < 3 && !this.lostReason; attempt++) {
          const lease = {
            ...this.lease,
            metadata: { ...this.lease.metadata, resourceVersion: this.resourceVersion },
            spec: { ...this.lease.spec, renewTime: microTime() },
          };
          const r = await this.kubectl.run(['replace', '-f', '-', '-o', 'json'], { input: JSON.stringify(lease), timeoutMs: 20_000 });
          if (r.exitCode === 0) {
            this.lease = JSON.parse(r.stdout);
            this.resourceVersion = this.lease.metadata.resourceVersion;
            this.lastRenewal = Date.now();
            return;
          }
          if (!/Conflict|the object has been modified|NotFound|not found/.test(r.stderr)) return; // unreachable: try at the next tick
          const got = await this.kubectl.run(['get', 'lease', LOCK_NAME, '-n', this.namespace, '-o', 'json'], { timeoutMs: 20_000 });
          const now = got.exitCode === 0 ? JSON.parse(got.stdout) : undefined;
          const held = now ? holderOf(now) : undefined;
          if (!now || held?.holder !== this.holder || now.spec.acquireTime !== this.lease.spec.acquireTime) {
            this.lostReason = held ? `the deploy lock was taken by ${describeHolder(held)}` : 'the deploy lock was deleted by someone else';
            return;
          }
          this.resourceVersion = now.metadata.resourceVersion;
        }
      } finally {
        this.renewing = undefined;
      }
    })();
    return this.renewing;
  }

  /**
   * Gives the lock back (holder cleared, conditioned on this run still holding it). Returns undefined when released,
   * or what the operator must know when it could not be (the API server is gone).
   */
  async release(): Promise<string | undefined> {
    clearInterval(this.timer);
    await this.renewing;
    if (this.lostReason) return undefined;
    const free = {
      ...this.lease,
      metadata: { ...this.lease.metadata, resourceVersion: this.resourceVersion, annotations: {} },
      spec: { leaseDurationSeconds: LEASE_SECONDS, leaseTransitions: this.lease.spec.leaseTransitions },
    };
    const r = await this.kubectl.run(['replace', '-f', '-'], { input: JSON.stringify(free), timeoutMs: 20_000 });
    if (r.exitCode === 0 || /Conflict|the object has been modified|NotFound|not found/.test(r.stderr)) return undefined;
    return (
      `the deploy lock (Lease ${this.namespace}/${LOCK_NAME}) could not be released (${explainKubectlError(r.stderr)}): ` +
      `it expires by itself at ${this.expiresAt.toISOString()} (${LEASE_SECONDS} s after its last renewal), or take it with --force-unlock`
    );
  }
}

/**
 * `work` under the cluster lock (taken as `o` says, in `namespace`, which must exist), then the lock given back; a
 * lock that could not be given back is said through `o.io`.
 */
export async function withClusterLock<T>(kubectl: Kubectl, namespace: string, o: AcquireOptions, work: () => Promise<T>): Promise<T> {
  const held = await ClusterLock.acquire(kubectl, namespace, o);
  try {
    return await work();
  } finally {
    const note = await held.release();
    if (note) o.io.out(note);
  }
}
