{{/* Chart name, overridable. */}}
{{- define "scaleset-image-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified name: the release name, plus the chart name unless the release name contains it. */}}
{{- define "scaleset-image-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "scaleset-image-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "scaleset-image-operator.labels" -}}
helm.sh/chart: {{ include "scaleset-image-operator.chart" . }}
{{ include "scaleset-image-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels that select the operator's pod. */}}
{{- define "scaleset-image-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scaleset-image-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "scaleset-image-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "scaleset-image-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "scaleset-image-operator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The operator configuration file (controller/config.py), from .Values.config. */}}
{{- define "scaleset-image-operator.config" -}}
{{- $config := .Values.config -}}
{{- if not (hasKey $config.clouds $config.defaultCloud) -}}
{{- fail (printf "config.defaultCloud %q is not one of the profiles in config.clouds (%s)" $config.defaultCloud (keys $config.clouds | sortAlpha | join ", ")) -}}
{{- end -}}
{{- $clouds := dict -}}
{{- range $name, $profile := $config.clouds -}}
{{- $_ := set $clouds $name (default (dict) $profile) -}}
{{- end -}}
{{- $out := dict "defaultCloud" $config.defaultCloud "clouds" $clouds "pollInterval" $config.pollInterval "resyncInterval" $config.resyncInterval -}}
{{- if $config.maxConcurrentPasses -}}
{{- $_ := set $out "maxConcurrentPasses" $config.maxConcurrentPasses -}}
{{- end -}}
{{- if $config.azureBudget -}}
{{- $_ := set $out "azureBudget" $config.azureBudget -}}
{{- end -}}
{{- if $config.scopePolicy -}}
{{- $_ := set $out "scopePolicy" $config.scopePolicy -}}
{{- end -}}
{{- if $config.prometheus -}}
{{- $_ := set $out "prometheus" $config.prometheus -}}
{{- end -}}
{{- if $config.webhooks -}}
{{- $_ := set $out "webhooks" $config.webhooks -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* What the operator needs on ScaleSetImages and Events, wherever it watches them. */}}
{{- define "scaleset-image-operator.resourceRules" -}}
# List, watch and get ScaleSetImages; patch them for kopf's finalizer (imagerollout.dev/finalizer) and
# its progress annotations (imagerollout.dev/*), and for a fleet (ScaleSetImageRollout) to apply their
# spec.image and spec.rollout.paused (a merge patch, field manager scaleset-image-fleet).
# ScaleSetImageRollouts: the same, for kopf's annotations.
- apiGroups: [imagerollout.dev]
  resources: [scalesetimages, scalesetimagerollouts]
  verbs: [get, list, watch, patch]
# The status subresources, where the operator writes all rollout state.
- apiGroups: [imagerollout.dev]
  resources: [scalesetimages/status, scalesetimagerollouts/status]
  verbs: [patch]
# Events posted on each resource (kopf posts core/v1 Events).
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}

{{/* The Lease the replicas elect their leader with. */}}
{{- define "scaleset-image-operator.leaseName" -}}
{{- default (include "scaleset-image-operator.fullname" .) .Values.leaderElection.leaseName -}}
{{- end -}}

{{/* Refuse replica and election values that would let two operators reconcile at once. */}}
{{- define "scaleset-image-operator.checkLeaderElection" -}}
{{- $election := .Values.leaderElection -}}
{{- if $election.enabled -}}
{{- if le (int $election.leaseDuration) (int $election.renewDeadline) -}}
{{- fail (printf "leaderElection.leaseDuration (%d) must be greater than leaderElection.renewDeadline (%d): a leader must give up before its lease can expire" (int $election.leaseDuration) (int $election.renewDeadline)) -}}
{{- end -}}
{{- if le (int $election.renewDeadline) (int $election.retryPeriod) -}}
{{- fail (printf "leaderElection.renewDeadline (%d) must be greater than leaderElection.retryPeriod (%d): the leader must get more than one try to renew" (int $election.renewDeadline) (int $election.retryPeriod)) -}}
{{- end -}}
{{- else if gt (int .Values.replicas) 1 -}}
{{- fail (printf "replicas is %d but leaderElection.enabled is false: standalone operators would all reconcile the same resources; enable leaderElection or set replicas to 1" (int .Values.replicas)) -}}
{{- end -}}
{{- end -}}
