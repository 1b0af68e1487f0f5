{{/* Names, labels and shared blocks of the isobox chart. */}}

{{- define "isobox.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The resource name prefix: "<release>-isobox", or the release name when it contains the chart name. */}}
{{- define "isobox.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "isobox.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; pass (dict "ctx" $ "component" "api"). */}}
{{- define "isobox.labels" -}}
helm.sh/chart: {{ include "isobox.chart" .ctx }}
{{ include "isobox.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: isobox
{{- end }}

{{/* Selector labels; pass (dict "ctx" $ "component" "api"). */}}
{{- define "isobox.selectorLabels" -}}
app.kubernetes.io/name: {{ include "isobox.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{- define "isobox.apiName" -}}
{{- printf "%s-api" (include "isobox.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "isobox.operatorName" -}}
{{- printf "%s-operator" (include "isobox.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "isobox.apiServiceAccountName" -}}
{{- if .Values.api.serviceAccount.create }}
{{- default (include "isobox.apiName" .) .Values.api.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.api.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "isobox.operatorServiceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "isobox.operatorName" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "isobox.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* "true" when the backend runs sandboxes in the cluster (kubernetes or coderun). */}}
{{- define "isobox.inCluster" -}}
{{- if has .Values.backend (list "kubernetes" "coderun") }}true{{ end }}
{{- end }}

{{- define "isobox.languagesConfigMapName" -}}
{{- printf "%s-languages" (include "isobox.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Where the language registry is mounted. */}}
{{- define "isobox.languagesDir" -}}/etc/isobox{{- end }}

{{/* The settings the API and the operator share (README "Configuration"). */}}
{{- define "isobox.env" -}}
- name: ISOBOX_BACKEND
  value: {{ .Values.backend | quote }}
- name: ISOBOX_KUBERNETES_NAMESPACE
  value: {{ .Values.sandbox.namespace | quote }}
- name: ISOBOX_KUBERNETES_IMAGE_PULL_POLICY
  value: {{ .Values.sandbox.imagePullPolicy | quote }}
- name: ISOBOX_KUBERNETES_START_TIMEOUT_S
  value: {{ .Values.sandbox.startTimeoutSeconds | quote }}
{{- with .Values.sandbox.runtimeClassName }}
- name: ISOBOX_KUBERNETES_RUNTIME_CLASS
  value: {{ . | quote }}
{{- end }}
{{- with .Values.sandbox.pool }}
- name: ISOBOX_POOL_SIZE
  value: {{ .size | quote }}
- name: ISOBOX_POOL_MAX_IDLE_S
  value: {{ .maxIdleSeconds | quote }}
- name: ISOBOX_POOL_MAX_PROVISIONING
  value: {{ .maxProvisioning | quote }}
{{- end }}
- name: ISOBOX_LANGUAGES_FILE
  value: {{ printf "%s/languages.yaml" (include "isobox.languagesDir" .) | quote }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- with .Values.limits }}
- name: ISOBOX_DEFAULT_TIMEOUT_S
  value: {{ .defaultTimeoutSeconds | quote }}
- name: ISOBOX_MAX_TIMEOUT_S
  value: {{ .maxTimeoutSeconds | quote }}
- name: ISOBOX_COMPILE_TIMEOUT_S
  value: {{ .compileTimeoutSeconds | quote }}
- name: ISOBOX_MAX_COMPILE_TIMEOUT_S
  value: {{ .maxCompileTimeoutSeconds | quote }}
- name: ISOBOX_COMPILE_MEMORY_MIB
  value: {{ .compileMemoryMiB | quote }}
- name: ISOBOX_DEFAULT_MEMORY_MIB
  value: {{ .defaultMemoryMiB | quote }}
- name: ISOBOX_MAX_MEMORY_MIB
  value: {{ .maxMemoryMiB | quote }}
- name: ISOBOX_CPUS
  value: {{ .cpus | quote }}
- name: ISOBOX_PIDS_LIMIT
  value: {{ .pidsLimit | quote }}
- name: ISOBOX_OUTPUT_LIMIT_BYTES
  value: {{ .outputLimitBytes | int64 | quote }}
- name: ISOBOX_SCRATCH_MIB
  value: {{ .scratchMiB | quote }}
- name: ISOBOX_MAX_CODE_BYTES
  value: {{ .maxCodeBytes | int64 | quote }}
- name: ISOBOX_MAX_FILES
  value: {{ .maxFiles | quote }}
- name: ISOBOX_MAX_FILES_BYTES
  value: {{ .maxFilesBytes | int64 | quote }}
- name: ISOBOX_MAX_STDIN_BYTES
  value: {{ .maxStdinBytes | int64 | quote }}
- name: ISOBOX_MAX_ARGS
  value: {{ .maxArgs | quote }}
- name: ISOBOX_MAX_ARG_BYTES
  value: {{ .maxArgBytes | int64 | quote }}
- name: ISOBOX_MAX_BODY_BYTES
  value: {{ .maxBodyBytes | int64 | quote }}
- name: ISOBOX_MAX_CONCURRENT_RUNS
  value: {{ .maxConcurrentRuns | quote }}
- name: ISOBOX_MAX_QUEUED_RUNS
  value: {{ .maxQueuedRuns | int64 | quote }}
- name: ISOBOX_RATE_LIMIT_PER_MINUTE
  value: {{ .rateLimitPerMinute | int64 | quote }}
- name: ISOBOX_MAX_IN_FLIGHT_PER_CLIENT
  value: {{ .maxInFlightPerClient | int64 | quote }}
{{- end }}
{{- with .Values.coderun }}
- name: ISOBOX_CODERUN_RETENTION_S
  value: {{ .retentionSeconds | int64 | quote }}
- name: ISOBOX_CODERUN_GC_INTERVAL_S
  value: {{ .gcIntervalSeconds | quote }}
- name: ISOBOX_CODERUN_OUTPUT_LIMIT_BYTES
  value: {{ .outputLimitBytes | int64 | quote }}
{{- end }}
{{- end }}

{{/* The language registry volume and its mount. */}}
{{- define "isobox.languagesVolume" -}}
- name: languages
  configMap:
    name: {{ include "isobox.languagesConfigMapName" . }}
{{- end }}
{{- define "isobox.languagesVolumeMount" -}}
- name: languages
  mountPath: {{ include "isobox.languagesDir" . }}
  readOnly: true
{{- end }}

{{/* How the API is reached from outside the cluster ("" when it is not): an Ingress or a Service
of type NodePort or LoadBalancer. */}}
{{- define "isobox.exposedBy" -}}
{{- if .Values.api.ingress.enabled }}api.ingress.enabled=true
{{- else if has .Values.api.service.type (list "NodePort" "LoadBalancer") }}api.service.type={{ .Values.api.service.type }}
{{- end }}
{{- end }}

{{/* Refuses anonymous code execution from outside the cluster unless api.allowAnonymous says so. */}}
{{- define "isobox.checkAnonymous" -}}
{{- $exposedBy := include "isobox.exposedBy" . }}
{{- if and $exposedBy (not .Values.api.apiKeys.existingSecret) (not .Values.api.allowAnonymous) }}
{{- fail (printf "%s with API keys off (api.apiKeys.existingSecret is empty) lets anyone who reaches the API run code on your cluster: set api.apiKeys.existingSecret (see docs/deploy.md), or set api.allowAnonymous=true to accept anonymous execution" $exposedBy) }}
{{- end }}
{{- end }}

{{/* With backend coderun, the request caps must fit the CodeRun CRD's bounds (coderun_crd() in
isobox/kubernetes/manifests.py, the defaults of the limits), or the API server would refuse
the CodeRuns of requests the API accepted. */}}
{{- define "isobox.checkCodeRunBounds" -}}
{{- if eq .Values.backend "coderun" }}
{{- $bounds := dict "maxCodeBytes" 262144 "maxStdinBytes" 262144 "maxFiles" 32 "maxFilesBytes" 524288 "maxArgs" 64 "maxArgBytes" 4096 }}
{{- range $key, $bound := $bounds }}
{{- if gt (int64 (get $.Values.limits $key)) (int64 $bound) }}
{{- fail (printf "limits.%s=%v is above %v, the CodeRun CRD's bound of that field (backend coderun): lower it, or use backend kubernetes" $key (int64 (get $.Values.limits $key)) $bound) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
