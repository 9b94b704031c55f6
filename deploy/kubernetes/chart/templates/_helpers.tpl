{{/* Names. */}}
{{- define "adpilot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "adpilot.fullname" -}}
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

{{- define "adpilot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "adpilot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The labels that pick one component's pods: call with (list $ "gateway"). */}}
{{- define "adpilot.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "adpilot.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "adpilot.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "adpilot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "adpilot.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The operators' objects and the Secrets they make. */}}
{{- define "adpilot.postgresName" -}}{{ include "adpilot.fullname" . }}-postgres{{- end -}}
{{- define "adpilot.poolerName" -}}{{ include "adpilot.fullname" . }}-pooler{{- end -}}
{{- define "adpilot.rabbitmqName" -}}{{ include "adpilot.fullname" . }}-rabbitmq{{- end -}}

{{/* The bundled broker's address, without a login (that comes from its Secret). */}}
{{- define "adpilot.rabbitmqHost" -}}
{{- printf "%s.%s.svc:5672" (include "adpilot.rabbitmqName" .) .Release.Namespace -}}
{{- end -}}

{{/* Where the services find the bundled PostgreSQL: the pooler, else the primary. */}}
{{- define "adpilot.databaseUrl" -}}
{{- $host := include "adpilot.postgresName" . | printf "%s-rw" -}}
{{- if .Values.postgresql.pooler.enabled -}}
{{- $host = include "adpilot.poolerName" . -}}
{{- end -}}
{{- printf "postgresql://%s:5432/%s" $host .Values.postgresql.cluster.database -}}
{{- end -}}

{{/* The non-secret configuration, but for the database's address. */}}
{{- define "adpilot.baseConfigData" -}}
{{- range $key, $value := .Values.config }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
ADPILOT_HOST: "0.0.0.0"
{{- range $service, $spec := .Values.services }}
{{ printf "ADPILOT_%s_PORT" (upper $service) }}: {{ $spec.port | toString | quote }}
{{- if ne $service "gateway" }}
{{ printf "ADPILOT_%s_URL" (upper $service) }}: {{ printf "http://%s-%s:%v" (include "adpilot.fullname" $) $service $spec.port | quote }}
{{- end }}
{{- end }}
{{- if .Values.sandbox.enabled }}
ADPILOT_SANDBOX_PORT: {{ .Values.sandbox.port | toString | quote }}
ADPILOT_SANDBOX_URL: {{ printf "http://%s-sandbox:%v" (include "adpilot.fullname" .) .Values.sandbox.port | quote }}
{{- end }}
{{- end -}}

{{/* The services' ConfigMap: the bundled PostgreSQL through its pooler, if there is one. */}}
{{- define "adpilot.configData" -}}
{{ include "adpilot.baseConfigData" . | trim }}
{{- if .Values.postgresql.cluster.enabled }}
ADPILOT_DATABASE_URL: {{ include "adpilot.databaseUrl" . | quote }}
{{- end }}
{{- end -}}

{{/*
The migrations' ConfigMap: the bundled PostgreSQL's primary itself, logged in to as the
operator's superuser (PGUSER and PGPASSWORD, which asyncpg reads, from its Secret).
*/}}
{{- define "adpilot.migrateConfigData" -}}
{{ include "adpilot.baseConfigData" . | trim }}
{{- if .Values.postgresql.cluster.enabled }}
ADPILOT_DATABASE_URL: {{ printf "postgresql://%s-rw:5432/%s" (include "adpilot.postgresName" .) .Values.postgresql.cluster.database | quote }}
{{- end }}
{{- end -}}

{{/* What a service needs to log in to PostgreSQL as its own role, beside the ConfigMap. */}}
{{- define "adpilot.databaseEnv" -}}
- name: ADPILOT_SERVICE_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.name }}
      key: {{ .Values.secrets.serviceDbPasswordKey }}
{{- if not .Values.postgresql.cluster.enabled }}
- name: ADPILOT_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.postgresql.external.secretName }}
      key: {{ .Values.postgresql.external.urlKey }}
{{- end }}
{{- end -}}

{{/*
Environment of every adpilot container beside the ConfigMap: the secrets, each by
secretKeyRef, and the broker's URL.
*/}}
{{- define "adpilot.secretEnv" -}}
- name: ADPILOT_INTERNAL_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.name }}
      key: {{ .Values.secrets.internalSecretKey }}
- name: ADPILOT_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.name }}
      key: {{ .Values.secrets.jwtSecretKey }}
      optional: true
- name: ADPILOT_SECRETS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.name }}
      key: {{ .Values.secrets.secretsKeyKey }}
      optional: true
- name: ADPILOT_SECRETS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.name }}
      key: {{ .Values.secrets.secretsKeyIdKey }}
      optional: true
{{ include "adpilot.databaseEnv" . }}
{{- if .Values.rabbitmq.cluster.enabled }}
# The operator's default user; Kubernetes puts the two into the URL below.
- name: RABBITMQ_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "adpilot.rabbitmqName" . }}-default-user
      key: username
- name: RABBITMQ_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "adpilot.rabbitmqName" . }}-default-user
      key: password
- name: ADPILOT_AMQP_URL
  value: {{ printf "amqp://$(RABBITMQ_USERNAME):$(RABBITMQ_PASSWORD)@%s/" (include "adpilot.rabbitmqHost" .) | quote }}
{{- else }}
- name: ADPILOT_AMQP_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.rabbitmq.external.secretName }}
      key: {{ .Values.rabbitmq.external.urlKey }}
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by every workload. */}}
{{- define "adpilot.podCommon" -}}
serviceAccountName: {{ include "adpilot.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The migrations' login: the operator's superuser, or the external admin URL. */}}
{{- define "adpilot.migrateEnv" -}}
- name: ADPILOT_SERVICE_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.name }}
      key: {{ .Values.secrets.serviceDbPasswordKey }}
{{- if .Values.postgresql.cluster.enabled }}
- name: PGUSER
  valueFrom:
    secretKeyRef:
      name: {{ include "adpilot.postgresName" . }}-superuser
      key: username
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "adpilot.postgresName" . }}-superuser
      key: password
{{- else }}
- name: ADPILOT_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.postgresql.external.secretName }}
      key: {{ .Values.postgresql.external.migrateUrlKey }}
{{- end }}
{{- end -}}
