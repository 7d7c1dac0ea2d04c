import type { LoadedConfig } from '../../../lib/config';
import {
  appName,
  type AppSummary,
  argoManaged,
  configuredApplication,
  keptResources,
  resourceName,
  retireName,
  trackingMethod,
} from '../cluster/argocd';
import { ClusterUnavailable, type Kubectl } from '../cluster/kubectl';
import type { Line } from './checks';

const line = (status: Line['status'], check: string, detail: string): Line => ({ status, check, detail });

/** One Application's state: Synced and Healthy is ok; what it keeps, a running or failed operation say why not. */
async function applicationLine(kubectl: Kubectl, app: AppSummary): Promise<Line[]> {
  const check = `argocd ${appName(app)}`;
  const revision = app.revision ? `, revision ${app.revision.slice(0, 12)}` : '';
  const state = `sync ${app.sync}, health ${app.health}${revision}${app.repo ? ` of ${app.repo}` : ''}`;
  const op = app.operation;
  const out: Line[] = [];
  if (op && ['Failed', 'Error'].includes(op.phase))
    out.push(line('fail', check, `${state}; its last sync ${op.phase.toLowerCase()}: ${op.message ?? ''}`));
  else if (['Degraded', 'Missing'].includes(app.health)) out.push(line('fail', check, state));
  else if (app.sync === 'Synced' && app.health === 'Healthy') out.push(line('ok', check, state));
  else out.push(line('warn', check, `${state}${op?.phase === 'Running' && op.message ? `; sync running: ${op.message}` : ''}`));
  for (const k of await keptResources(kubectl, app)) {
    out.push(
      line(
        'warn',
        `${check} keeps`,
        `${resourceName(k.resource)}: dropped from Git but kept (${k.options || 'no sync options'}) with ${k.data}; ` +
          `the Application stays OutOfSync until bin/roomler argocd retire ${retireName(k.resource)}`,
      ),
    );
  }
  return out;
}

/**
 * Argo CD, read only: the Applications that manage the namespaces this config deploys (sync, health, what they keep)
 * and the tracking method its argocd-cm sets. Label tracking (Argo CD 2.x's default) adopts any object whose
 * app.kubernetes.io/instance label equals an Application's name; annotation tracking adopts only what it applied.
 */
export async function argocdChecks(cfg: LoadedConfig, kubectl: Kubectl): Promise<Line[]> {
  let server: string;
  try {
    server = (await kubectl.connect()).server;
  } catch (e) {
    if (e instanceof ClusterUnavailable) return [line('skipped', 'argocd', e.message)];
    throw e;
  }
  const namespaces = [
    ...new Set([...cfg.instances.map((i) => i.namespace), ...(cfg.root.coturn.enabled ? [cfg.root.coturn.namespace] : [])]),
  ];
  const { owners, apps, unknown } = await argoManaged(kubectl, namespaces, server);
  const a = cfg.root.argocd;
  const out: Line[] = [];
  if (unknown) out.push(line('skipped', 'argocd', `cannot read the Applications: ${unknown}`));
  const relevant = apps.filter(
    (x) => [...owners.values()].flat().includes(appName(x)) || (a.enabled && x.namespace === a.namespace && x.name === a.name),
  );
  if (a.enabled && !unknown && !relevant.some((x) => x.namespace === a.namespace && x.name === a.name)) {
    const exists = await configuredApplication(cfg, kubectl).catch(() => undefined);
    if (!exists)
      out.push(
        line(
          'warn',
          `argocd ${a.namespace}/${a.name}`,
          'the Application of this config is not in the cluster: apply it once with kubectl apply -f dist/argocd.k8s.yaml',
        ),
      );
  }
  for (const app of relevant) out.push(...(await applicationLine(kubectl, app)));
  if (!a.enabled && !relevant.length) {
    if (!unknown) out.push(line('ok', 'argocd', `no Argo CD Application manages ${namespaces.join(', ')}: bin/roomler deploy owns them`));
    return out;
  }
  for (const ns of [...new Set([...(a.enabled ? [a.namespace] : []), ...relevant.map((x) => x.namespace)])]) {
    const t = await trackingMethod(kubectl, ns);
    const check = `argocd tracking ${ns}`;
    if ('unknown' in t) out.push(line('skipped', check, `cannot read ConfigMap ${ns}/argocd-cm: ${t.unknown}`));
    else if (t.method === 'annotation' || t.method === 'annotation+label')
      out.push(line('ok', check, `application.resourceTrackingMethod: ${t.method}: Argo CD adopts only what it applied itself`));
    else {
      out.push(
        line(
          'warn',
          check,
          `application.resourceTrackingMethod is ${t.method ?? 'not set (label in Argo CD 2.x)'}: any object whose ` +
            "app.kubernetes.io/instance label equals an Application's name is adopted and pruned; " +
            'set it to annotation in argocd-cm (the default from Argo CD 3.0)',
        ),
      );
    }
  }
  return out;
}
