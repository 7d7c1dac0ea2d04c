// kwok Stages for the lab's Pods (kwok's own defaults for Nodes). Without a kubelet, kwok writes the status a
// kubelet would. The defaults make every Pod Ready at once; these keep that and add three behaviours a test (or an
// operator rehearsing) selects per workload with an annotation on the Pod template:
//   lab.roomler.dev/ready-after: "20s"   Ready only after this long (a slow first MongoDB boot)
//   lab.roomler.dev/never-ready: "true"  Running, containers started, never Ready (a failing readiness probe)
//   lab.roomler.dev/crash-loop: "true"   waiting in CrashLoopBackOff with restarts (a container that keeps exiting)
//   lab.roomler.dev/fail: "true"         a Job's Pod exits 1 instead of completing (a failed backup run)
//   lab.roomler.dev/init-fail: "true"    its init containers keep exiting 1 (Init:CrashLoopBackOff); nothing starts

export const LAB_ANNOTATIONS = {
  readyAfter: 'lab.roomler.dev/ready-after',
  neverReady: 'lab.roomler.dev/never-ready',
  crashLoop: 'lab.roomler.dev/crash-loop',
  fail: 'lab.roomler.dev/fail',
  initFail: 'lab.roomler.dev/init-fail',
} as const;

const annotation = (key: string) => `'.metadata.annotations["${key}"]'`;

const running = (ready: boolean, state: string) => `
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "${ready ? 'True' : 'False'}"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "${ready ? 'True' : 'False'}"
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: ${ready}
${state}
      {{ end }}
      initContainerStatuses:
      {{ range .spec.initContainers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}`;

const started = `        restartCount: 0
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}`;

const crashing = `        restartCount: 5
        started: false
        lastState:
          terminated:
            exitCode: 1
            reason: Error
            startedAt: {{ $now | Quote }}
            finishedAt: {{ $now | Quote }}
        state:
          waiting:
            reason: CrashLoopBackOff
            message: back-off 2m40s restarting failed container`;

const initFailing = `
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        type: Initialized
        reason: ContainersNotInitialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        type: Ready
        reason: ContainersNotReady
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        type: ContainersReady
        reason: ContainersNotReady
      initContainerStatuses:
      {{ range .spec.initContainers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 4
        lastState:
          terminated:
            exitCode: 1
            reason: Error
            startedAt: {{ $now | Quote }}
            finishedAt: {{ $now | Quote }}
        state:
          waiting:
            reason: CrashLoopBackOff
            message: back-off 1m20s restarting failed container
      {{ end }}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          waiting:
            reason: PodInitializing
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
      phase: Pending
      startTime: {{ $now | Quote }}`;

const stage = (name: string, selector: string[], next: string, delayFrom?: string) => `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: ${name}
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
${selector.map((s) => `    - ${s}`).join('\n')}
${delayFrom ? `  delay:\n    durationMilliseconds: 0\n    durationFrom:\n      expressionFrom: ${delayFrom}\n` : ''}  next:
${next}
`;

const fresh = [`key: '.metadata.deletionTimestamp'\n      operator: DoesNotExist`, `key: '.status.podIP'\n      operator: DoesNotExist`];
const without = (key: string) => `key: ${annotation(key)}\n      operator: DoesNotExist`;
const withIt = (key: string) => `key: ${annotation(key)}\n      operator: Exists`;

/** The kwok config file: every Pod stage (kwok keeps its default Node stages when none are given). */
export function labStages(): string {
  const A = LAB_ANNOTATIONS;
  return [
    stage(
      'pod-ready',
      [...fresh, without(A.neverReady), without(A.crashLoop), without(A.initFail)],
      `    statusTemplate: |${running(true, started)}`,
      annotation(A.readyAfter),
    ),
    stage('pod-init-fail', [...fresh, withIt(A.initFail)], `    statusTemplate: |${initFailing}`),
    stage('pod-never-ready', [...fresh, withIt(A.neverReady)], `    statusTemplate: |${running(false, started)}`),
    stage('pod-crash-loop', [...fresh, withIt(A.crashLoop)], `    statusTemplate: |${running(false, crashing)}`),
    // Job Pods (the backup CronJobs) complete once running, as kwok's defaults do, or fail where annotated.
    stage('pod-complete', [...jobRunning, without(A.fail)], terminated(0, 'Completed', 'Succeeded')),
    stage('pod-fail', [...jobRunning, withIt(A.fail)], terminated(1, 'Error', 'Failed')),
    stage(
      'pod-delete',
      [`key: '.metadata.deletionTimestamp'\n      operator: Exists`],
      `    finalizers:\n      empty: true\n    delete: true`,
    ),
  ].join('---\n');
}

const jobRunning = [
  `key: '.metadata.deletionTimestamp'\n      operator: DoesNotExist`,
  `key: '.status.phase'\n      operator: In\n      values: [Running]`,
  `key: '.metadata.ownerReferences.[].kind'\n      operator: In\n      values: [Job]`,
];

const terminated = (exitCode: number, reason: string, phase: string) => `    statusTemplate: |
      {{ $now := Now }}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: ${exitCode}
            finishedAt: {{ $now | Quote }}
            reason: ${reason}
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: ${phase}`;
