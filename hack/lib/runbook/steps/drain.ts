import { UserError } from '../../cli/errors';
import { drain as cutoverDrain } from '../../cutover/drain';
import { cfgKeptHosts, dockerStop, oldContainers, type Step } from './common';

export const drainStep: Step = {
  id: 'drain',
  title: 'Drain the old Janus (calls end on their own), prove nginx -t without the old hosts, stop the old containers',
  changes: (cfg) => [`docker stop ${[...oldContainers(cfg).janus, oldContainers(cfg).mongo].join(' ')} once drained`],
  touches: (cfg) => ['cutover drain', `docker stop ${[...oldContainers(cfg).janus, oldContainers(cfg).mongo].join(' ')}`],
  checks: ['no connection from nginx to any port of the old hosts', 'nginx -t passes with the old hosts unresolvable'],
  gate: 'drain says safe to stop',
  rollback: 'docker start the containers (nginx no longer uses them)',
  run: async ({ cfg, io }) => {
    const verdict = await cutoverDrain(cfg, {}, io);
    if (verdict !== 'safe')
      throw new UserError(
        verdict === 'timed out'
          ? 'calls are still open on the old Janus: run migrate run again later to keep draining'
          : 'drain says it is not safe to stop the old containers (see above)',
      );
    const { janus, mongo } = oldContainers(cfg);
    const kept = new Set(cfgKeptHosts(cfg));
    const names = [...new Set([...janus, mongo])].filter((n) => !kept.has(n));
    await dockerStop(names, io);
    return {
      outcome: `drained; stopped ${names.join(', ')}`,
      verified: ['no connections left', 'nginx -t passes without the old hosts'],
      manual: [`remove the stopped containers when you no longer need them: docker rm ${[...oldContainers(cfg).app, ...names].join(' ')}`],
    };
  },
};
