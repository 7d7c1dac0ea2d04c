import type { LoadedConfig } from '../../../lib/config';
import { NAMES } from '../../../lib/config';
import { UserError } from '../cli';
import type { IO } from '../cli/io';
import { type BackupSet, listSets } from './backups';
import { type Check, judged } from './checks';
import { preflight } from './commands';
import { NginxControl } from './nginx';
import { applyReplacements, backendValue, type Directive, hostPortAt, type Replacement, unquote } from './nginx-config';
import { type Plan, plan } from './plan';
import { splitHostPort } from './probes';
import type { ResolvedRoute } from './routes';
import { Guard, NginxTransaction } from './transaction';
import { displayPath, type NginxTree } from './tree';

// The migration day's switch, as nginx sees it: the app's locations answer 503 with Retry-After (a maintenance page)
// while the old app is stopped and the final copy runs, then every route moves to the new side. One transaction:
// the originals are backed up once, the maintenance answer and the cutover are its two stages, and any failure or
// signal restores the originals byte-identical (after the old app was started again). Everything that can fail
// afterwards is proven first, before anything is stopped or written (prove()).

/** Where the app's routes go: the maintenance answer replaces their proxy_pass directives. */
export const isAppRoute = (r: ResolvedRoute) => r.to.startsWith(`${NAMES.app}/`);

/** The page browsers see during the write-free window; they reload it themselves. */
const PAGE = (retryAfter: number) =>
  `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="${retryAfter}"><title>Back in a moment</title>` +
  `<p>This site is moving to new servers and is back in a few seconds. This page reloads by itself.</p>`;

/** The directives of the same innermost block as `d`. */
const siblings = (tree: NginxTree, d: Directive) => {
  const inner = d.blocks[d.blocks.length - 1];
  return tree.all.filter(
    (x) => x.file === d.file && x.blocks.length === d.blocks.length && x.blocks[x.blocks.length - 1]?.start === inner?.start,
  );
};

/**
 * The maintenance answer in place of each `proxy_pass` that reaches an app route (directly, or through an upstream
 * whose servers it names; its old backend, or with `side: 'target'` its new one, when going back):
 * `add_header Retry-After N always; default_type text/html; return 503 '<page>';`. Only those directives change.
 * `default_type` is left out where the block already sets one or is an `if` (not allowed there). An `add_header` at
 * location level hides the server's own add_header directives for these answers only.
 */
export function maintenanceTexts(
  tree: NginxTree,
  routes: readonly ResolvedRoute[],
  retryAfter: number,
  side: 'from' | 'target' = 'from',
): { texts: Map<string, string>; locations: number } {
  const app = routes.filter(isAppRoute).map((r) => r[side]);
  const upstreams = new Set(
    tree.all.flatMap((d) => {
      const b = backendValue(d, tree.proxied);
      return b?.kind === 'upstream' && app.some((hp) => hostPortAt(unquote(b.token), hp) !== undefined)
        ? [d.blocks[d.blocks.length - 1].args[0]]
        : [];
    }),
  );
  const reaches = (value: string) =>
    app.some((hp) => hostPortAt(value, hp) !== undefined) || upstreams.has(value.replace(/^[a-z]+:\/\//i, '').split(/[/?]/)[0]);
  const texts = new Map<string, string>();
  let locations = 0;
  for (const file of tree.files) {
    const replacements: Replacement[] = [];
    for (const d of file.directives) {
      if (d.name !== 'proxy_pass' || !d.args.length || !reaches(unquote(d.args[0]))) continue;
      const inIf = d.blocks[d.blocks.length - 1]?.name === 'if';
      const typed = inIf || siblings(tree, d).some((x) => x.name === 'default_type');
      replacements.push({
        start: d.start,
        end: d.end,
        line: d.line,
        text: `add_header Retry-After ${retryAfter} always; ${typed ? '' : 'default_type text/html; '}return 503 '${PAGE(retryAfter)}';`,
      });
    }
    if (replacements.length) texts.set(file.real, applyReplacements(file.text, replacements));
    locations += replacements.length;
  }
  return { texts, locations };
}

/**
 * The requests that prove the maintenance answer: each app location answers 503 with Retry-After. The other routes'
 * locations are untouched by it (their checks run before, and again after the cutover): inside the window, every
 * request counts.
 */
function maintenanceChecks(p: Plan): Check[] {
  return judged(p.checks)
    .filter((c) => isAppRoute(c.route))
    .map((c) => ({ ...c, websocket: false, protocol: undefined, status: 503, headers: ['Retry-After'] }));
}

export interface SwitchProof {
  readonly plan: Plan;
  readonly maintenance: Map<string, string>;
  readonly final: Map<string, string>;
  /** What was proven, one line each, for the operator. */
  readonly proven: readonly string[];
  /** What could not be proven before the freeze, and why (e.g. no private mount namespace where nginx runs). */
  readonly unproven: readonly string[];
  /**
   * What one stage should take, measured now: the preflight runs nginx -t and every verification request as a stage
   * does; a reload and the wait for new workers add ~0.2-0.3 s (docs/cutover.md).
   */
  readonly stageMs: number;
}

/**
 * Everything about nginx that can still fail once the old app is stopped, proven while it still serves and without
 * changing anything: the plan accounts for every old backend; the files are writable; nginx -t passes on the current
 * files, on the maintenance tree and on the cutover tree (in a private mount namespace); nginx has workers; every new
 * target answers; every verification request passes on the current config. All problems are listed at once.
 */
export async function proveSwitch(
  cfg: LoadedConfig,
  o: { retryAfter: number; stopped?: readonly string[]; originals?: ReadonlyMap<string, string>; guard: Guard },
): Promise<SwitchProof> {
  const p = plan(cfg, o.originals);
  if (p.problems.length) throw new UserError(`the cutover plan has problems; nothing was changed:\n  ${p.problems.join('\n  ')}`);
  if (p.alreadyDone) throw new UserError('nginx is already cut over: every route points at its new target; there is nothing to switch');
  const nginx = new NginxControl(cfg.root.cutover.nginx);
  const reachable = (checks: readonly Check[]) => checks.filter((x) => !(o.stopped ?? []).includes(splitHostPort(x.current).host));
  const files = [...new Set(p.tree.files.map((f) => f.real))];
  const m = maintenanceTexts(p.tree, p.routes, o.retryAfter);
  if (!m.locations)
    throw new UserError(
      `no location proxies to the app (${p.routes
        .filter(isAppRoute)
        .map((r) => r.from)
        .join(', ')}): there is nothing to answer 503 for`,
    );
  const final = new Map(p.changes.map((c) => [c.file.real, c.after]));
  const proven: string[] = [];
  const unproven: string[] = [];
  const t0 = Date.now();
  await preflight({
    cfg,
    tree: p.tree,
    files: files.filter((f) => m.texts.has(f) || final.has(f)),
    nginx,
    guard: o.guard,
    targets: p.targets,
    baseline: reachable(judged(p.checks)),
    io: { out: (l) => proven.push(l.replace(/^preflight: /, '')), err: (l) => proven.push(l) },
  });
  const stageMs = Date.now() - t0 + 300;
  const problems: string[] = [];
  for (const [what, texts] of [
    ['the maintenance answer', m.texts],
    ['the cutover', final],
  ] as const) {
    const t = await o.guard.race(nginx.testWith(texts));
    if ('skipped' in t)
      unproven.push(`nginx -t of ${what} before writing it (${t.skipped}): it runs on the written files, and a failure restores them`);
    else if (!t.ok)
      problems.push(
        `nginx -t rejects ${what} (${[...texts.keys()].map((f) => displayPath(p.tree.confDir, f)).join(', ')}): ${
          t.output
            .split('\n')
            .filter((l) => /emerg|error|failed/.test(l))
            .join('; ') || t.output
        }`,
      );
    else proven.push(`nginx -t accepts ${what} (${texts.size} file(s), tested in a private mount namespace)`);
  }
  if (problems.length) throw new UserError(`the switch cannot work; nothing was changed:\n  - ${problems.join('\n  - ')}`);
  proven.push(`${m.locations} location(s) of the app will answer 503 with Retry-After ${o.retryAfter} during the window`);
  return { plan: p, maintenance: m.texts, final, proven, unproven, stageMs };
}

/** The newest switch a killed run left pending, if any: its originals are the files' true originals. */
export function pendingSwitch(cfg: LoadedConfig): BackupSet | undefined {
  const last = listSets(cfg.root.cutover.backupDir).pop();
  return last && last.manifest.kind === 'switch' && last.manifest.outcome === 'pending' ? last : undefined;
}

export interface SwitchHooks {
  /** Runs once the maintenance answer is live: stops the old app and copies the final data. */
  readonly frozen: (tx: NginxTransaction) => Promise<void>;
  /** On a failure after the maintenance answer went live: starts the old app again (lines for the report). */
  readonly thaw: () => Promise<string[]>;
}

/**
 * The switch itself: back up (or take over a pending set), the maintenance stage, `frozen`, the cutover stage,
 * commit. A failure anywhere restores the originals after `thaw`. Returns the milliseconds from the maintenance
 * answer going live to nginx serving the new app: the window browsers were told to retry in.
 */
export async function runSwitch(
  cfg: LoadedConfig,
  proof: SwitchProof,
  hooks: SwitchHooks,
  o: { guard: Guard; io: IO; resume?: BackupSet; onOpen?: (at: Date) => void },
): Promise<number> {
  const c = cfg.root.cutover;
  const nginx = new NginxControl(c.nginx);
  const p = proof.plan;
  const options = {
    kind: 'switch' as const,
    backupDir: c.backupDir,
    routes: p.routes,
    nginx,
    timeoutMs: c.requestTimeoutMs,
    guard: o.guard,
    io: o.io,
  };
  const files = [...new Set([...proof.maintenance.keys(), ...proof.final.keys()])].map((real) =>
    p.tree.files.find((f) => f.real === real)!,
  );
  const tx = o.resume
    ? NginxTransaction.adopt(options, o.resume)
    : await NginxTransaction.begin(
        options,
        files.map((f) => ({ path: f.path, real: f.real, text: f.text })),
      );
  const since = (t: number) => `${((Date.now() - t) / 1000).toFixed(1)} s`;
  try {
    // The window is what browsers see: from the moment nginx is told to load the maintenance answer (its new workers
    // may answer 503 from then on) to the moment only new workers accept, sending the app's requests to the new app
    // (each stage's checks come after its reload).
    let opened = 0;
    let closed = 0;
    tx.at('maintenance');
    await tx.stage(proof.maintenance, maintenanceChecks(p), {
      onReloading: (at) => {
        opened = at;
        o.onOpen?.(new Date(at));
      },
    });
    o.io.out(`the app answers 503 with Retry-After (checked ${since(opened)} after the reload)`);
    const frozen = Date.now();
    await hooks.frozen(tx);
    o.io.out(`stopped and copied in ${since(frozen)}`);
    const cut = Date.now();
    tx.at('cutover');
    await tx.stage(proof.final, p.checksAfter, { onReloaded: (at) => (closed = at) });
    o.io.out(`cut over in ${((closed - cut) / 1000).toFixed(1)} s, verified ${since(closed)} after the reload`);
    tx.commit();
    return closed - opened;
  } catch (e) {
    return tx.fail(e, judged(p.checks), hooks.thaw);
  }
}
