import type { LoadedConfig } from '../../../lib/config';
import { confirm } from '../cli/confirm';
import { UserError } from '../cli/errors';
import { run, type RunOptions, type RunResult } from '../process/run';

// Cluster access for every command: the one way to find kubectl's context, to pass `--context` to every kubectl
// call, to say precisely why a cluster cannot be used, and to say which cluster a change goes to before making it.

export const CONTEXT_OPTION = {
  type: 'string',
  value: 'NAME',
  description: 'kubeconfig context for every kubectl call',
  defaultText: "kubectl's current context",
} as const;

/** Where kubectl will talk to: printed before any change. */
export interface ClusterTarget {
  readonly context: string;
  readonly server: string;
  readonly user: string;
}

/** Why a cluster cannot be used, in the operator's words; `kind` lets doctor say "skipped" precisely. */
export class ClusterUnavailable extends UserError {
  constructor(
    readonly kind: 'no-kubectl' | 'no-context' | 'unknown-context' | 'unreachable' | 'unauthorized' | 'forbidden',
    message: string,
  ) {
    super(message);
  }
}

/** The kubeconfig file(s) kubectl reads: $KUBECONFIG (a list), else ~/.kube/config. */
export const kubeconfigFiles = (env: NodeJS.ProcessEnv = process.env): string =>
  env.KUBECONFIG ? env.KUBECONFIG.split(':').filter(Boolean).join(', ') : `${env.HOME ?? '~'}/.kube/config`;

const lastLine = (s: string) => s.trim().split('\n').filter(Boolean).pop() ?? '';

export class Kubectl {
  constructor(
    /** Passed as `--context` to every call; undefined uses the kubeconfig's current context. */
    readonly context?: string,
  ) {}

  /** kubectl's argv for `args`, always with the chosen context. */
  argv(args: readonly string[]): string[] {
    return [...(this.context ? ['--context', this.context] : []), ...args];
  }

  run(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return run('kubectl', this.argv(args), { timeoutMs: 60_000, ...options });
  }

  /** Like run, but a non-zero exit is a UserError naming `what` and kubectl's last line. */
  async must(what: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const r = await this.run(args, options);
    if (r.exitCode !== 0)
      throw new UserError(`${what} failed (kubectl exit ${r.exitCode ?? r.signal}): ${lastLine(r.stderr) || lastLine(r.stdout)}`);
    return r;
  }

  /** The context and API server this instance will use, from the kubeconfig alone (no network). */
  async target(): Promise<ClusterTarget> {
    const r = await this.run(['config', 'view', '--minify', '-o', 'json'], { timeoutMs: 15_000 });
    if (r.spawnError === 'ENOENT')
      throw new ClusterUnavailable('no-kubectl', 'kubectl is not installed (not found on PATH); install kubectl v1.28 to use a cluster');
    if (r.exitCode !== 0) {
      const err = lastLine(r.stderr);
      if (/current-context (is not set|must exist)/.test(err))
        throw new ClusterUnavailable(
          'no-context',
          `no kubectl context is set in ${kubeconfigFiles()} (current-context is empty): pass --context NAME or run kubectl config use-context NAME`,
        );
      if (/context .* does not exist|no context exists with the name|cannot locate context/.test(err)) {
        const named = this.context ?? (/context "([^"]+)"/.exec(err) ?? /(?:locate context|with the name:?)\s+"?([^"\s]+)/.exec(err))?.[1];
        const asked = this.context
          ? `context "${this.context}" (--context or the instance's context:)`
          : `current-context "${named ?? '?'}"`;
        throw new ClusterUnavailable('unknown-context', `${kubeconfigFiles()}: ${asked} does not exist${await this.known()}`);
      }
      throw new ClusterUnavailable('no-context', `cannot read the kubeconfig ${kubeconfigFiles()}: ${err}`);
    }
    const view = JSON.parse(r.stdout);
    const context = view['current-context'] || this.context;
    if (!context || !view.contexts?.length)
      throw new ClusterUnavailable(
        'no-context',
        'no kubectl context is set (kubectl config current-context is empty): pass --context NAME or run kubectl config use-context NAME',
      );
    return { context, server: view.clusters?.[0]?.cluster?.server ?? '(no server)', user: view.contexts[0].context?.user ?? '' };
  }

  private async known(): Promise<string> {
    const r = await run('kubectl', ['config', 'get-contexts', '-o', 'name'], { timeoutMs: 15_000 });
    const names = r.exitCode === 0 ? r.stdout.trim().split('\n').filter(Boolean) : [];
    return names.length ? ` (contexts there: ${names.join(', ')})` : ' (it has no contexts)';
  }

  /**
   * The target, after proving the API server answers and accepts the credentials: `/api` needs an
   * authenticated user, so a refused token (401) and an anonymous caller (403) are told apart from an outage.
   */
  async connect(): Promise<ClusterTarget> {
    const t = await this.target();
    const r = await this.run(['get', '--raw', '/api', '--request-timeout=10s'], { timeoutMs: 20_000 });
    if (r.exitCode === 0) return t;
    const err = r.stderr;
    const where = `the API server ${t.server} (context ${t.context})`;
    if (/Unauthorized|must be logged in/i.test(err))
      throw new ClusterUnavailable(
        'unauthorized',
        `${where} refused the credentials of user "${t.user}" (401 Unauthorized): renew the token or certificate in the kubeconfig`,
      );
    if (/forbidden/i.test(err)) throw new ClusterUnavailable('forbidden', `${where} does not accept user "${t.user}": ${lastLine(err)}`);
    throw new ClusterUnavailable(
      'unreachable',
      `cannot reach ${where}: ${lastLine(err).replace(/^error: /, '') || `kubectl exit ${r.exitCode ?? r.signal}`}`,
    );
  }

  /**
   * Says which cluster and namespaces a change goes to, then asks (or needs --yes); returns the target. `known`: the
   * target a caller already connected to (no second round trip).
   */
  async confirmChange(
    action: string,
    namespaces: readonly string[],
    yes: boolean,
    extra: readonly string[] = [],
    known?: ClusterTarget,
  ): Promise<ClusterTarget> {
    const t = known ?? (await this.connect());
    await confirm(
      `${action} will change`,
      [`kubectl context: ${t.context}`, `API server:      ${t.server}`, `namespaces:      ${namespaces.join(', ') || '(none)'}`, ...extra],
      yes,
    );
    return t;
  }
}

/**
 * The kubectl context for work on one instance: `--context` when given, else the instance's `context:` (or the
 * config's top-level one), else undefined (kubectl's current context). The one rule every command follows.
 */
export const contextFor = (cfg: LoadedConfig, instance?: { readonly context?: string }, override?: string): string | undefined =>
  override ?? instance?.context ?? cfg.root.context;

/**
 * Which cluster each object goes to: `--context` for everything when given, otherwise the context of the instance
 * the object belongs to (`context:` in the config; its label app.kubernetes.io/instance), else kubectl's current.
 */
export function clusterTargets<T extends { metadata?: { labels?: Record<string, string> } }>(
  cfg: LoadedConfig,
  objects: readonly T[],
  override?: string,
): { context?: string; objects: T[] }[] {
  const contextOf = (o: T) =>
    contextFor(
      cfg,
      cfg.instances.find((i) => i.name === o.metadata?.labels?.['app.kubernetes.io/instance']),
      override,
    );
  const groups = new Map<string | undefined, T[]>();
  for (const o of objects) groups.set(contextOf(o), [...(groups.get(contextOf(o)) ?? []), o]);
  return [...groups].map(([context, objs]) => ({ context, objects: objs }));
}
