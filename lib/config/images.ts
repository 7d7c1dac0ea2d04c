import type { Locate } from './cross-instance';
import type { InstanceConfig } from './instance';

// How firmly an image reference names its bytes, and the pull policy that follows. Shared by config
// (a pull policy that can never deliver an update is a config error) and the validator's policy rules.

export type Pinning = 'digest' | 'exact' | 'floating' | 'latest';

/** The tag of an image reference, or undefined when it has none (`registry:5000/name` has no tag). */
export function imageTag(image: string): string | undefined {
  const noDigest = image.split('@')[0];
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(colon + 1) : undefined;
}

/**
 * `digest`: `name@sha256:…`. `latest`: `:latest` or no tag. `floating`: a major or major.minor version
 * (`mongo:7`, `redis:7-alpine`, `busybox:1.36`), which the publisher moves to every new patch. `exact`: any
 * other tag (`mongo:7.0.16`, `redis:7.4.2-alpine`, a date or a commit): by convention never re-pushed.
 */
export function imagePinning(image: string): Pinning {
  if (image.includes('@')) return 'digest';
  const tag = imageTag(image);
  if (tag === undefined || tag === 'latest') return 'latest';
  if (/^v?\d+(\.\d+)?([-_].*)?$/.test(tag)) return 'floating';
  return 'exact';
}

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/**
 * An image whose tag moves must be pulled on every start, or a node that already has an older copy keeps running
 * it: `IfNotPresent` on `:latest` never delivers a redeploy (docs/reference-topology.md). Pinned images default to `IfNotPresent`
 * (no registry round trip, and no Docker Hub rate limit, on a restart).
 */
export const pullPolicyFor = (image: string, configured?: PullPolicy): PullPolicy =>
  configured ?? (['digest', 'exact'].includes(imagePinning(image)) ? 'IfNotPresent' : 'Always');

/** The images of one instance, with their config paths. */
export const instanceImages = (i: InstanceConfig): { image: string; path: readonly string[] }[] => [
  { image: i.mongodb.image, path: ['mongodb', 'image'] },
  { image: i.redis.image, path: ['redis', 'image'] },
  { image: i.janus.image, path: ['janus', 'image'] },
  { image: i.app.image, path: ['app', 'image'] },
  ...(i.backups.enabled && i.backups.image ? [{ image: i.backups.image, path: ['backups', 'image'] }] : []),
];

/** A moving tag with an explicit pull policy other than Always: the redeploy would never reach a node. */
export function pullPolicyIssues(instances: readonly InstanceConfig[], locate: Locate): string[] {
  return instances.flatMap((i, index) =>
    i.imagePullPolicy === undefined || i.imagePullPolicy === 'Always'
      ? []
      : instanceImages(i)
          .filter(({ image }) => ['latest', 'floating'].includes(imagePinning(image)))
          .map(
            ({ image, path }) =>
              `${locate(index, ['imagePullPolicy'])}: ${i.imagePullPolicy} with ${path.join('.')} ${image} (a ${imagePinning(image)} tag): a node that has an older copy never pulls the new one; ` +
              'pin an exact tag or digest, or use Always',
          ),
  );
}
