"""KWOK pod Stages that turn the image-pull emulator's verdicts into pod status.

KWOK fakes kubelets but pulls nothing and never sets ``imageID``. The emulator
(``pullemulator``) annotates each bound pod with what containerd would have reported:

* ``pull.driftscan.io/state``: ``done`` or ``failed``;
* ``image-id.driftscan.io/<container>``: ``REGISTRY/REPO@sha256:…`` per container;
* ``pull-error.driftscan.io/<container>``: the pull error, for containers that failed;
* ``pull-reason.driftscan.io/<container>``: the waiting reason (``ErrImagePull``,
  ``ErrImageNeverPull``, ``InvalidImageName``; ``PodInitializing`` for a container after
  an init container that failed);
* ``image.driftscan.io/<container>``: the ``image`` kubelet reports, when not the spec's;
* ``container-id.driftscan.io/<container>``: ``containerd://…`` for a container whose
  image was pulled (a waiting container has none, as on a real node).

These Stages replace KWOK's default pod Stages (KWOK uses its defaults only when a config
has no pod Stage at all, so every pod Stage is declared here):

* ``pod-ready`` — pulls done: Running, Ready, every container running with its imageID,
  after the configured readiness delay (so rollouts take observable time);
* ``pod-pull-failed`` — a pull failed: Pending, not Ready, failed containers waiting with
  their reason and an empty imageID; init containers before the failed one done (or
  running, for sidecars), every container after it waiting in ``PodInitializing``; the
  other containers running;
* ``pod-complete`` — Job pods finish (imageIDs kept);
* ``pod-delete`` — a deleted pod goes away at once (finalizers cleared).
"""

from __future__ import annotations

__all__ = ["ANNOTATION_CONTAINER_ID", "ANNOTATION_ERROR", "ANNOTATION_IMAGE",
           "ANNOTATION_IMAGE_ID", "ANNOTATION_REASON", "ANNOTATION_STATE", "render"]

ANNOTATION_STATE = "pull.driftscan.io/state"
ANNOTATION_IMAGE_ID = "image-id.driftscan.io/"
ANNOTATION_ERROR = "pull-error.driftscan.io/"
ANNOTATION_REASON = "pull-reason.driftscan.io/"
ANNOTATION_IMAGE = "image.driftscan.io/"
ANNOTATION_CONTAINER_ID = "container-id.driftscan.io/"

# Go-template helpers shared by the Stages: `$a` holds the pod's annotations.
_CONTAINER_STATUS = """\
      - image: {{ or (index $a (printf "image.driftscan.io/%s" .name)) .image | Quote }}
        name: {{ .name | Quote }}
        imageID: {{ or (index $a (printf "image-id.driftscan.io/%s" .name)) "" | Quote }}
        {{ with index $a (printf "container-id.driftscan.io/%s" .name) }}containerID: {{ . | Quote }}{{ end }}
        restartCount: 0
"""

# Both node Stages write KWOK's healthy conditions; a condition's transition time stays
# the node's creation time, as it does on a node that has been Ready since it joined.
_NODE_CONDITIONS = """\
      {{ $now := Now }}
      {{ $since := or .metadata.creationTimestamp $now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $since | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
"""

# KWOK v0.8 takes node Stages from the same config once any Stage is given, so the
# node lifecycle is declared too: initialise (Ready, addresses, capacity), then heartbeat.
_NODE_STAGES = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-initialize
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ['True']
  next:
    statusTemplate: |
@NODE_CONDITIONS@      addresses:
      - {address: {{ NodeIP | Quote }}, type: InternalIP}
      - {address: {{ .metadata.name | Quote }}, type: Hostname}
      allocatable: {cpu: "1000", memory: 4Ti, pods: "1000"}
      capacity: {cpu: "1000", memory: 4Ti, pods: "1000"}
      nodeInfo:
        architecture: amd64
        operatingSystem: linux
        containerRuntimeVersion: "containerd://emulated"
        kubeletVersion: "kwok"
        kernelVersion: "kwok"
        osImage: "kwok"
        kubeProxyVersion: "kwok"
        machineID: ""
        systemUUID: ""
        bootID: ""
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-heartbeat
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - {key: '.status.phase', operator: In, values: [Running]}
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: In
      values: ['True']
  delay:
    durationMilliseconds: 15000
    jitterDurationMilliseconds: 20000
  next:
    statusTemplate: |
@NODE_CONDITIONS@  immediateNextStage: true
---
"""

# Where a started pod lives: its node's IP and an IP from KWOK's pod CIDR.
_POD_ADDRESS = """\
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
"""

_TEMPLATE = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: DoesNotExist}
    - {key: '.metadata.annotations["pull.driftscan.io/state"]', operator: In, values: [done]}
    - {key: '.status.phase', operator: NotIn, values: [Succeeded, Failed]}
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ['True']
  delay:
    durationMilliseconds: @DELAY@
    jitterDurationMilliseconds: @JITTER@
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $a := or .metadata.annotations dict }}
      conditions:
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Ready}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: ContainersReady}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: PodScheduled}
      {{ range .spec.readinessGates }}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: {{ .conditionType | Quote }}}
      {{ end }}
      containerStatuses:
      {{ range .spec.containers }}
@CONTAINER@        ready: true
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      initContainerStatuses:
      {{ range .spec.initContainers }}
@CONTAINER@        ready: true
        {{ if eq (or .restartPolicy "") "Always" }}
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
        {{ else }}
        started: false
        state:
          terminated: {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}
        {{ end }}
      {{ end }}
@POD_ADDRESS@      phase: Running
      startTime: {{ or .status.startTime $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-pull-failed
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: DoesNotExist}
    - {key: '.metadata.annotations["pull.driftscan.io/state"]', operator: In, values: [failed]}
    - {key: '.status.podIP', operator: DoesNotExist}
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $a := or .metadata.annotations dict }}
      conditions:
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: PodScheduled}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
      - {lastTransitionTime: {{ $now | Quote }}, status: "False", type: Ready, reason: ContainersNotReady}
      - {lastTransitionTime: {{ $now | Quote }}, status: "False", type: ContainersReady, reason: ContainersNotReady}
      initContainerStatuses:
      {{ range .spec.initContainers }}
      {{ $err := index $a (printf "pull-error.driftscan.io/%s" .name) }}
      {{ $reason := or (index $a (printf "pull-reason.driftscan.io/%s" .name)) "ErrImagePull" }}
@CONTAINER@        ready: false
        {{ if $err }}
        started: false
        state:
          waiting: {reason: {{ $reason | Quote }}, message: {{ $err | Quote }}}
        {{ else if eq $reason "PodInitializing" }}
        started: false
        state:
          waiting: {reason: PodInitializing}
        {{ else if eq (or .restartPolicy "") "Always" }}
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
        {{ else }}
        started: false
        state:
          terminated: {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}
        {{ end }}
      {{ end }}
      containerStatuses:
      {{ range .spec.containers }}
      {{ $err := index $a (printf "pull-error.driftscan.io/%s" .name) }}
      {{ $reason := or (index $a (printf "pull-reason.driftscan.io/%s" .name)) "ErrImagePull" }}
@CONTAINER@        ready: false
        {{ if $err }}
        started: false
        state:
          waiting: {reason: {{ $reason | Quote }}, message: {{ $err | Quote }}}
        {{ else if eq $reason "PodInitializing" }}
        started: false
        state:
          waiting: {reason: PodInitializing}
        {{ else }}
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
        {{ end }}
      {{ end }}
@POD_ADDRESS@      phase: Pending
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-complete
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: DoesNotExist}
    - {key: '.status.phase', operator: In, values: [Running]}
    - {key: '.metadata.ownerReferences.[].kind', operator: In, values: [Job]}
  delay:
    durationMilliseconds: @DELAY@
    jitterDurationMilliseconds: @JITTER@
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $a := or .metadata.annotations dict }}
      conditions:
      - {lastTransitionTime: {{ $now | Quote }}, status: "False", type: Ready, reason: PodCompleted}
      - {lastTransitionTime: {{ $now | Quote }}, status: "False", type: ContainersReady, reason: PodCompleted}
      containerStatuses:
      {{ range .spec.containers }}
@CONTAINER@        ready: false
        started: false
        state:
          terminated: {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}
      {{ end }}
      phase: Succeeded
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: Exists}
  next:
    finalizers: {empty: true}
    delete: true
"""


def render(ready_delay_ms: int = 0, ready_jitter_ms: int = 0) -> str:
    """The Stage documents for KWOK's ``--config``, with the given readiness delay."""
    jitter = max(ready_jitter_ms, ready_delay_ms)
    fragments = {"@NODE_CONDITIONS@": _NODE_CONDITIONS, "@CONTAINER@": _CONTAINER_STATUS,
                 "@POD_ADDRESS@": _POD_ADDRESS, "@DELAY@": str(ready_delay_ms),
                 "@JITTER@": str(jitter)}
    text = _NODE_STAGES + _TEMPLATE
    for marker, fragment in fragments.items():
        text = text.replace(marker, fragment)
    return text
