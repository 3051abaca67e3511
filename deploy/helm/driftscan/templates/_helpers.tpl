{{/* Names, labels and the pieces several templates share. */}}

{{- define "driftscan.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "driftscan.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "driftscan.selectorLabels" -}}
app.kubernetes.io/name: {{ include "driftscan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "driftscan.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "driftscan.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: watcher
{{- end -}}

{{- define "driftscan.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "driftscan.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "driftscan.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The namespaces of namespaced mode, each checked to be a namespace name. */}}
{{- define "driftscan.namespaces" -}}
{{- range .Values.namespaces -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$" (toString .)) -}}
{{- fail (printf "namespaces: %q is not a namespace name (lower-case letters, digits and '-', at most 63)" (toString .)) -}}
{{- end -}}
{{- end -}}
{{- toJson .Values.namespaces -}}
{{- end -}}

{{/*
The kinds `driftscan scan` and `driftscan watch` read (scanner/sources/live.py RESOURCES),
read-only. Secrets are never among them.
*/}}
{{- define "driftscan.namespacedRules" -}}
- apiGroups: [""]
  resources: [pods, replicationcontrollers, services]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [replicasets, deployments, statefulsets, daemonsets, controllerrevisions]
  verbs: [get, list, watch]
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [get, list, watch]
{{- end -}}

{{/* Cluster-scoped reads: nodes, and namespaces (a scanned namespace that does not exist is a gap). */}}
{{- define "driftscan.clusterRules" -}}
- apiGroups: [""]
  resources: [nodes, namespaces]
  verbs: [get, list, watch]
{{- end -}}

{{/* The watcher's container arguments after the `driftscan` entry point. */}}
{{- define "driftscan.args" -}}
- watch
- --listen
- {{ printf "0.0.0.0:%d" (int .Values.listen.port) | quote }}
{{- $namespaces := include "driftscan.namespaces" . | fromJsonArray }}
{{- if $namespaces }}
{{- range $namespaces }}
- --namespace
- {{ . | quote }}
{{- end }}
{{- else }}
- --all-namespaces
{{- end }}
{{- if .Values.registryCheck.enabled }}
- --registry-check
- --registry-interval
- {{ .Values.registryCheck.interval | quote }}
{{- range .Values.registryCheck.insecureRegistries }}
- --insecure-registry
- {{ . | quote }}
{{- end }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
The alert rule groups (docs/metrics.md names the series), shared by the PrometheusRule and the plain
rules file. `$labels` in annotations are the series' own labels (the finding's severity
among them); the alert's `severity` label is the one routing uses.
*/}}
{{- define "driftscan.ruleGroups" -}}
{{- $a := .Values.prometheusRule.alerts -}}
{{- $extra := .Values.prometheusRule.additionalLabels -}}
- name: driftscan
  rules:
{{- if $a.digestDrift.enabled }}
    - alert: DriftscanDigestDrift
      expr: driftscan_finding{rule="digest-drift"} == 1
      for: {{ $a.digestDrift.for }}
      labels:
        severity: {{ $a.digestDrift.severity | toString | quote }}
        {{- range $k, $v := $extra }}
        {{ $k }}: {{ $v | toString | quote }}
        {{- end }}
      annotations:
        summary: Pods of one revision of {{ "{{ $labels.kind }}/{{ $labels.workload }}" }} run different builds
        description: >-
          The pods of {{ "{{ $labels.kind }} {{ $labels.namespace }}/{{ $labels.workload }}" }}
          (container {{ "{{ $labels.container }}" }}) run different builds of the same image:
          a tag was re-pushed and new pods pulled it. Finding severity
          {{ "{{ $labels.severity }}" }}. `driftscan scan -n {{ "{{ $labels.namespace }}" }}` shows the
          digests; pin the image by digest (`driftscan pin`).
{{- end }}
{{- if $a.rolloutStalled.enabled }}
    - alert: DriftscanRolloutStalled
      expr: driftscan_finding{rule="stalled-rollout"} == 1
      for: {{ $a.rolloutStalled.for }}
      labels:
        severity: {{ $a.rolloutStalled.severity | toString | quote }}
        {{- range $k, $v := $extra }}
        {{ $k }}: {{ $v | toString | quote }}
        {{- end }}
      annotations:
        summary: Rollout of {{ "{{ $labels.kind }}/{{ $labels.workload }}" }} is stalled
        description: >-
          {{ "{{ $labels.kind }} {{ $labels.namespace }}/{{ $labels.workload }}" }} has run two
          revisions side by side for longer than the alert's window. Finding severity
          {{ "{{ $labels.severity }}" }}.
{{- end }}
{{- if $a.latentDrift.enabled }}
    - alert: DriftscanLatentDrift
      expr: driftscan_finding{rule="latent-drift"} == 1
      for: {{ $a.latentDrift.for }}
      labels:
        severity: {{ $a.latentDrift.severity | toString | quote }}
        {{- range $k, $v := $extra }}
        {{ $k }}: {{ $v | toString | quote }}
        {{- end }}
      annotations:
        summary: The tag of {{ "{{ $labels.kind }}/{{ $labels.workload }}" }} now names another build
        description: >-
          The registry's tag used by {{ "{{ $labels.kind }} {{ $labels.namespace }}/{{ $labels.workload }}" }}
          (container {{ "{{ $labels.container }}" }}) names a build no pod runs: the next pod
          started will drift. Finding severity {{ "{{ $labels.severity }}" }}.
{{- end }}
{{- if $a.watchDown.enabled }}
    - alert: DriftscanWatchDown
      expr: driftscan_watch_up == 0
      for: {{ $a.watchDown.for }}
      labels:
        severity: {{ $a.watchDown.severity | toString | quote }}
        reason: disconnected
        {{- range $k, $v := $extra }}
        {{ $k }}: {{ $v | toString | quote }}
        {{- end }}
      annotations:
        summary: driftscan's watches of the apiserver are down
        description: >-
          The watcher {{ "{{ $labels.instance }}" }} has not been connected and in sync with the
          apiserver for the alert's window: drift goes unseen. Its log says why (RBAC,
          network, apiserver).
    - alert: DriftscanWatchDown
      expr: absent(driftscan_watch_up)
      for: {{ $a.watchDown.absentFor }}
      labels:
        severity: {{ $a.watchDown.severity | toString | quote }}
        reason: not-scraped
        {{- range $k, $v := $extra }}
        {{ $k }}: {{ $v | toString | quote }}
        {{- end }}
      annotations:
        summary: No driftscan watcher is scraped
        description: >-
          Prometheus has no driftscan_watch_up series: the watcher is not running or not
          scraped (check the Deployment and the ServiceMonitor), so drift goes unseen.
{{- end }}
{{- end -}}
