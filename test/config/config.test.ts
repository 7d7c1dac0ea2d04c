import { readFileSync } from 'node:fs';

import { afterAll, describe, expect, it } from 'vitest';

import { ConfigError, loadConfig } from '../../lib/config';
import { allObjects, cleanupDirs, find, projectWith, seedDist, treeBytes } from '../support/files';
import { synthIn } from '../support/synth';

afterAll(cleanupDirs);

const configMap = (dir: string, env: NodeJS.ProcessEnv = {}) => {
  const { code, outdir, stderr } = synthIn(dir, env);
  expect(code, stderr).toBe(0);
  return find(allObjects(new Map([['x', readFileSync(`${outdir}/roomler.k8s.yaml`, 'utf8')]])), 'ConfigMap', 'roomler-config').data;
};

describe('configuration sources', () => {
  it('uses the reference defaults with no configuration at all', () => {
    const { instances, file, envFile } = loadConfig({ cwd: projectWith({}), env: {} });
    expect(file).toBeUndefined();
    expect(envFile).toBeUndefined();
    expect(instances).toHaveLength(1);
    expect(instances[0]).toMatchObject({
      name: 'roomler',
      namespace: 'roomler',
      dataNode: 'k8s-worker1',
      app: { nodePort: 30030 },
      mongodb: { database: 'roomlerdb' },
    });
  });

  it('reads roomler.yaml at the project root, or the file named by ROOMLER_CONFIG', () => {
    const dir = projectWith({ 'roomler.yaml': 'app:\n  nodePort: 31000\n', 'other.yaml': 'app:\n  nodePort: 31001\n' });
    expect(loadConfig({ cwd: dir, env: {} }).instances[0].app.nodePort).toBe(31000);
    expect(loadConfig({ cwd: dir, env: { ROOMLER_CONFIG: 'other.yaml' } }).instances[0].app.nodePort).toBe(31001);
  });

  it('layers defaults < config file < .env < environment', () => {
    const dir = projectWith({
      'roomler.yaml': 'app:\n  env:\n    URL: https://file.example\n    API_URL: https://file.example/api\n    GOOGLE_ID: from-file\n',
      '.env': 'URL=https://dotenv.example\nAPI_URL=https://dotenv.example/api\nMONGO_ROOT_PASSWORD=never-read-by-synth\n',
    });
    const data = configMap(dir, { URL: 'https://env.example' });
    expect(data.URL).toBe('https://env.example');
    expect(data.API_URL).toBe('https://dotenv.example/api');
    expect(data.GOOGLE_ID).toBe('from-file');
    expect(data.JANUS_URL).toBe('wss://janus.roomler.live/janus_ws');
  });

  it("maps the operator's .env names onto the config (K8S_WORKER1_IP, NGINX_CONF_DIR, BACKUP_BASE_PATH, …)", () => {
    const dir = projectWith({
      '.env': 'K8S_WORKER1_IP=10.0.0.7\nNGINX_CONF_DIR=/srv/nginx/conf.d\nBACKUP_BASE_PATH=/mnt/backup\nMONGO_DATABASE=otherdb\n',
    });
    const { root, instances } = loadConfig({ cwd: dir, env: { K8S_SSH_USER: 'deploy' } });
    expect(instances[0].nodeAddress).toBe('10.0.0.7');
    expect(instances[0].mongodb.database).toBe('otherdb');
    expect(root.ssh).toMatchObject({ host: '10.0.0.7', user: 'deploy' });
    expect(root.cutover.nginx.confDir).toBe('/srv/nginx/conf.d');
    expect(root.backup.basePath).toBe('/mnt/backup');
  });

  it('never puts secret values from .env or the environment into the output', () => {
    const sentinel = `sentinel-${process.pid}-${Date.now()}`;
    const dir = projectWith({ '.env': `MONGO_ROOT_PASSWORD=${sentinel}-a\nCOTURN_AUTH_SECRET=${sentinel}-b\n` });
    const { code, outdir, stdout, stderr } = synthIn(dir, { SENDGRID_API_KEY: `${sentinel}-c`, GOOGLE_SECRET: `${sentinel}-d` });
    expect(code).toBe(0);
    expect(JSON.stringify(treeBytes(outdir)) + stdout + stderr).not.toContain(Buffer.from(sentinel).toString('base64').slice(0, 12));
    expect(
      Object.values(treeBytes(outdir))
        .map((b) => Buffer.from(b, 'base64').toString())
        .join(''),
    ).not.toContain(sentinel);
  });
});

/** Each bad input: the message it must produce (naming the key path), and where it comes from. */
const BAD: { name: string; yaml?: string; dotenv?: string; env?: NodeJS.ProcessEnv; expect: RegExp[] }[] = [
  { name: 'wrong type', yaml: 'app:\n  nodePort: "30030"\n', expect: [/roomler\.yaml:2:\d+: app\.nodePort: expected number/] },
  { name: 'unknown key', yaml: 'app:\n  nodeport: 30031\n', expect: [/roomler\.yaml:2:\d+: app\.nodeport: unknown key "nodeport"/] },
  {
    name: 'NodePort out of range',
    yaml: 'janus:\n  nodePorts:\n    http: 40000\n',
    expect: [/roomler\.yaml:3:\d+: janus\.nodePorts\.http: NodePort must be within 30000-32767/],
  },
  {
    name: 'NodePort duplicated',
    yaml: 'janus:\n  nodePorts:\n    websocket: 30030\n',
    expect: [/janus\.nodePorts\.websocket: NodePort 30030 is already used by roomler at .*app\.nodePort/],
  },
  {
    name: 'invalid namespace',
    yaml: 'namespace: Roomler_Prod\n',
    expect: [/roomler\.yaml:1:\d+: namespace: namespace must be a DNS-1123 label/],
  },
  { name: 'invalid quantity', yaml: 'mongodb:\n  storage: 5GB\n', expect: [/mongodb\.storage: must be a Kubernetes quantity/] },
  {
    name: 'invalid resource quantity',
    yaml: 'redis:\n  resources:\n    limits:\n      cpu: lots\n',
    expect: [/redis\.resources\.limits\.cpu: must be a Kubernetes quantity/],
  },
  {
    name: 'invalid URL in the file',
    yaml: 'app:\n  env:\n    URL: roomler dot live\n',
    expect: [/roomler\.yaml:3:\d+: app\.env\.URL: must be a valid URL/],
  },
  { name: 'node name not a DNS label', yaml: 'dataNode: k8s_worker1\n', expect: [/dataNode: node name must be a DNS-1123 label/] },
  {
    name: 'negative probe timing',
    yaml: 'app:\n  startupProbe:\n    initialDelaySeconds: -5\n',
    expect: [/app\.startupProbe\.initialDelaySeconds: must not be negative/],
  },
  {
    name: 'zero failure threshold',
    yaml: 'mongodb:\n  livenessProbe:\n    failureThreshold: 0\n',
    expect: [/mongodb\.livenessProbe\.failureThreshold: must be at least 1/],
  },
  {
    name: 'TURN expiry beyond 32 bits',
    yaml: 'turn:\n  expiry: 9999999999\n',
    expect: [/turn\.expiry: must be at most 2147483647 .*32-bit/],
  },
  { name: 'TURN expiry in the past', yaml: 'turn:\n  expiry: 1000000000\n', expect: [/turn\.expiry: must be in the future/] },
  { name: 'YAML syntax error', yaml: 'app:\n  nodePort: [30030\n', expect: [/roomler\.yaml:\d+:\d+: YAML/] },
  {
    name: 'duplicate key',
    yaml: 'app:\n  port: 3000\n  port: 3001\n',
    expect: [/roomler\.yaml:\d+:\d+: YAML .*[Mm]ap keys must be unique/],
  },
  { name: 'relative hostPath', yaml: 'mongodb:\n  hostPath: data/mongodb\n', expect: [/mongodb\.hostPath: must be an absolute path/] },
  { name: 'unknown pull policy', yaml: 'imagePullPolicy: Sometimes\n', expect: [/imagePullPolicy: Invalid option/] },
  {
    name: 'a moving tag with a pull policy that never delivers it',
    yaml: 'imagePullPolicy: IfNotPresent\nredis:\n  image: redis:7-alpine\n',
    expect: [
      /roomler\.yaml:1:\d+: imagePullPolicy: IfNotPresent with janus\.image gjovanov\/janus-slim:latest \(a latest tag\): a node that has an older copy never pulls the new one/,
      /roomler\.yaml:1:\d+: imagePullPolicy: IfNotPresent with redis\.image redis:7-alpine \(a floating tag\)/,
    ],
  },
  {
    name: 'SUPER_ADMIN_EMAILS not a JSON array',
    yaml: 'app:\n  env:\n    SUPER_ADMIN_EMAILS: admin@roomler.live\n',
    expect: [/SUPER_ADMIN_EMAILS: must be a JSON array/],
  },
  {
    name: 'invalid URL from the environment',
    env: { JANUS_URL: 'janus.roomler.live' },
    expect: [/environment variable JANUS_URL \(app\.env\.JANUS_URL\): must be a valid URL/],
  },
  {
    name: 'invalid URL from .env',
    dotenv: 'TURN_URL=https://turn.roomler.live\n',
    expect: [/\.env: TURN_URL \(app\.env\.TURN_URL\): must be a valid URL with scheme turn or turns/],
  },
  {
    name: 'missing ROOMLER_CONFIG file',
    env: { ROOMLER_CONFIG: 'nope.yaml' },
    expect: [/ROOMLER_CONFIG: config file .*nope\.yaml does not exist/],
  },
  { name: 'config file is not a mapping', yaml: '- a\n- b\n', expect: [/roomler\.yaml: the config file must be a YAML mapping/] },
  {
    name: 'two instances in one namespace',
    yaml: 'instances:\n  - name: a\n    namespace: shared\n  - name: b\n    namespace: shared\n    app: { nodePort: 31030 }\n    janus: { nodePorts: { http: 31808, websocket: 31818 }, node: k8s-worker2 }\n    mongodb: { hostPath: /data/b/mongodb }\n    app2: 1\n',
    expect: [/instances\[1\]\.app2: unknown key/],
  },
];

describe('bad configuration', () => {
  it('has at least 15 cases', () => expect(BAD.length).toBeGreaterThanOrEqual(15));

  for (const bad of BAD) {
    it(`${bad.name}: clear message, exit 1, dist/ byte-identical`, () => {
      const dir = projectWith({ 'roomler.yaml': bad.yaml, '.env': bad.dotenv });
      const dist = seedDist(dir);
      const before = treeBytes(dir);
      const { code, stdout, stderr } = synthIn(dir, bad.env ?? {}, dist);
      expect(code).toBe(1);
      for (const re of bad.expect) expect(stderr).toMatch(re);
      expect(stderr).toContain('left unchanged');
      expect(stdout).toBe('');
      expect(treeBytes(dir)).toEqual(before);
    });
  }

  it('reports every problem at once, each with its own path', () => {
    const dir = projectWith({ 'roomler.yaml': 'dataNode: Bad_Node\napp:\n  nodePort: 1\n  bogus: true\n' });
    try {
      loadConfig({ cwd: dir, env: {} });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const problems = (e as ConfigError).problems.join('\n');
      expect(problems).toMatch(/dataNode/);
      expect(problems).toMatch(/app\.nodePort/);
      expect(problems).toMatch(/app\.bogus/);
    }
  });
});
