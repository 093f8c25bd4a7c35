{{- define "chatwire.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "chatwire.fullname" -}}
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

{{- define "chatwire.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chatwire.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "chatwire.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "chatwire.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "chatwire.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The Secret with DATABASE_URL, REDIS_URL and CHATWIRE_JWT_SECRET. */}}
{{- define "chatwire.secretName" -}}
{{- if .Values.secret.create -}}
{{- include "chatwire.fullname" . -}}
{{- else -}}
{{- required "secret.existingSecret is required (a Secret with DATABASE_URL, REDIS_URL and CHATWIRE_JWT_SECRET), or set secret.create=true with its values" .Values.secret.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "chatwire.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "chatwire.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* What every chatwire container gets: the Secret, the chart's own settings, then env. */}}
{{- define "chatwire.env" -}}
{{- range $name, $_ := .Values.env -}}
{{- if has $name (list "CHATWIRE_BIND" "CHATWIRE_ENV" "CHATWIRE_MIGRATE_ON_START" "CHATWIRE_SHUTDOWN_TIMEOUT_SECS" "CHATWIRE_WORKERS") -}}
{{- fail (printf "env.%s is set by the chart; use its own value (containerPort, migrations.enabled, shutdownTimeoutSeconds, workers)" $name) -}}
{{- end -}}
{{- end -}}
envFrom:
  - secretRef:
      name: {{ include "chatwire.secretName" . }}
env:
  - name: CHATWIRE_ENV
    value: production
  - name: CHATWIRE_BIND
    value: {{ printf "0.0.0.0:%d" (int .Values.containerPort) | quote }}
  - name: CHATWIRE_WORKERS
    value: {{ .Values.workers | quote }}
  - name: CHATWIRE_SHUTDOWN_TIMEOUT_SECS
    value: {{ .Values.shutdownTimeoutSeconds | quote }}
  - name: CHATWIRE_MIGRATE_ON_START
    value: {{ not .Values.migrations.enabled | quote }}
  {{- range $name, $value := .Values.env }}
  - name: {{ $name }}
    value: {{ $value | quote }}
  {{- end }}
{{- end -}}
