import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { cleanupDirs, emptyDir, projectWith } from '../support/files';
import { kubectlSpy } from '../support/kubectl-spy';
import { roomler } from '../support/roomler';
import { synthIn } from '../support/synth';

afterAll(cleanupDirs);

// The migration day's commands as an operator meets them before anything runs: what the help lists, which kubectl
// context each command uses, and bad paths named instead of crashed on. A recording kubectl (no cluster) proves the
// context; nothing here changes a host.

describe('the migration day from the command line', () => {
  it('bin/roomler --help names the day: migrate plan, run, status and back', () => {
    const r = roomler(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}migrate +the migration day off the Docker host: migrate plan\|run\|status\|back/m);
    const m = roomler(['migrate', '--help']);
    for (const sub of ['plan', 'run', 'status', 'back', 'mongo', 'uploads']) expect(m.stdout).toMatch(new RegExp(`^ {2}${sub} `, 'm'));
  });

  it('an empty --context= is an error before anything runs, for every command that takes one', () => {
    const spy = kubectlSpy();
    for (const args of [['deploy'], ['doctor'], ['migrate', 'mongo'], ['migrate', 'run'], ['secrets', 'apply'], ['diff', '--live']]) {
      const r = roomler([...args, '--context='], { env: { PATH: `${spy.dir}:${process.env.PATH}` } });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/--context needs a value, got an empty one/);
    }
    expect(spy.calls()).toEqual([]);
  });

  it("doctor and migrate mongo use the instance's context: without --context, every kubectl call names it", () => {
    const spy = kubectlSpy();
    const project = projectWith({
      'roomler.yaml': 'context: staging-cluster\n',
      '.env': 'MONGO_ROOT_USERNAME=root\nMONGO_ROOT_PASSWORD=secret\n',
    });
    const env = { PATH: `${spy.dir}:${process.env.PATH}`, ROOMLER_PROJECT_DIR: project, KUBECONFIG: join(project, 'none') };
    roomler(['doctor'], { env });
    roomler(['migrate', 'mongo', '--yes'], { env });
    const calls = spy.calls();
    expect(calls.length).toBeGreaterThan(1);
    expect(calls.filter((c) => !c.startsWith('--context staging-cluster '))).toEqual([]);
  });

  it('a confDir that is not where nginx keeps the sites is named, in plan and apply, never "moves nothing" or a stack trace', () => {
    const empty = emptyDir('roomler-confdir-');
    const unrelated = emptyDir('roomler-confdir-');
    writeFileSync(join(unrelated, 'default.conf'), 'server { listen 127.0.0.1:18999; location / { return 200; } }\n');
    for (const [dir, why] of [
      [empty, /holds no \*\.conf file: nginx includes its sites from another directory/],
      [
        unrelated,
        /names any route's old backend \(r00mler2:3000, janus_r:8088, .*\) or new target: is it the directory nginx includes the production sites from\? It holds \S*default\.conf/,
      ],
      [join(empty, 'missing'), /confDir \(NGINX_CONF_DIR\) \S+ does not exist/],
    ] as const) {
      const project = projectWith({ 'roomler.yaml': `cutover:\n  nginx: { confDir: "${dir}" }\n` });
      for (const sub of ['plan', 'apply']) {
        const r = roomler(['cutover', sub, '--yes'].slice(0, sub === 'plan' ? 2 : 3), { env: { ROOMLER_PROJECT_DIR: project } });
        expect(r.code, `${sub} ${dir}: ${r.stderr}`).toBe(1);
        expect(r.stderr).toMatch(why);
        expect(r.stderr).not.toMatch(/\n\s+at /);
        expect(r.stdout).not.toMatch(/it moves nothing/);
      }
    }
  });

  it('a missing uploads source is one prerequisite problem among the others, not a crash', () => {
    const spy = kubectlSpy();
    const project = projectWith({
      'roomler.yaml': `migrate:\n  uploads: { source: /nonexistent/uploads }\ncutover:\n  nginx: { confDir: /nonexistent/nginx }\nbackup: { basePath: "${emptyDir()}" }\n`,
    });
    // migrate run first refuses a dist/ that is not what synth makes: this one is.
    expect(synthIn(project, {}).code).toBe(0);
    const r = roomler(['migrate', 'run', '--to', 'prerequisites', '--yes'], {
      env: { PATH: `${spy.dir}:${process.env.PATH}`, ROOMLER_PROJECT_DIR: project },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /prerequisites not met:\n(\s+- .*\n)*\s+- migrate\.uploads\.source \(DOCKER_UPLOADS_PATH\) \/nonexistent\/uploads does not exist: the uploads cannot be copied/,
    );
    expect(r.stderr).toMatch(/- cutover plan: cutover\.nginx\.confDir \(NGINX_CONF_DIR\) \/nonexistent\/nginx does not exist/);
    expect(r.stderr).not.toMatch(/ENOENT|\n\s+at /);
  });
});
