{{/* Names and labels. */}}
{{- define "gonka.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gonka.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "gonka.labels" -}}
{{ include "gonka.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "gonka.credentialsSecret" -}}
{{- .Values.credentials.existingSecret | default (printf "%s-credentials" (include "gonka.fullname" .)) -}}
{{- end -}}

{{- define "gonka.warmKeySecret" -}}
{{- .Values.warmKey.existingSecret | default (printf "%s-warm-key" (include "gonka.fullname" .)) -}}
{{- end -}}

{{/* terminationGracePeriodSeconds of a libgonka daemon: announce (preStop) + announce + grace + margin. */}}
{{- define "gonka.terminationGrace" -}}
{{- add .Values.drain.announceSeconds .Values.drain.announceSeconds .Values.drain.shutdownGraceSeconds .Values.drain.marginSeconds -}}
{{- end -}}

{{/* Environment every libgonka daemon built on gonka::Daemon takes. */}}
{{- define "gonka.daemonEnv" -}}
- name: GONKA_BIND
  value: "0.0.0.0"
- name: GONKA_PORT
  value: {{ .port | quote }}
- name: GONKA_DRAIN_ANNOUNCE
  value: {{ printf "%ds" (int .root.Values.drain.announceSeconds) | quote }}
- name: GONKA_SHUTDOWN_GRACE
  value: {{ printf "%ds" (int .root.Values.drain.shutdownGraceSeconds) | quote }}
- name: GONKA_LOG_LEVEL
  value: {{ .root.Values.logLevel | quote }}
{{- end -}}

{{/* The chain flags (chain id, RPC URL, its CA). */}}
{{- define "gonka.chainEnv" -}}
- name: GONKA_CHAIN_RPC_URL
  value: {{ .Values.chain.rpcUrl | quote }}
{{- if .Values.chain.caSecret }}
- name: GONKA_CHAIN_CA_FILE
  value: /run/secrets/gonka/chain-ca.crt
{{- end }}
{{- end -}}

{{/* NATS (and coordination) flags for one role. Args: root, user (NATS user of the role),
noCoordination (bool: the daemon has no --coordination, e.g. edge-srv). */}}
{{- define "gonka.natsEnv" -}}
{{- $v := .root.Values -}}
- name: GONKA_NATS_URL
  value: {{ $v.nats.url | quote }}
{{- if not .noCoordination }}
- name: GONKA_COORDINATION
  value: {{ $v.coordination | quote }}
{{- end }}
{{- if $v.nats.auth.enabled }}
- name: GONKA_NATS_USER
  value: {{ .user | quote }}
- name: GONKA_NATS_PASSWORD_FILE
  value: {{ printf "/run/secrets/gonka/nats-%s.password" .user | quote }}
- name: GONKA_NATS_INBOX_PREFIX
  value: {{ printf "_INBOX_%s" .user | quote }}
{{- end }}
{{- if $v.nats.caSecret }}
- name: GONKA_NATS_CA_FILE
  value: /run/secrets/gonka/nats-ca.crt
{{- end }}
{{- end -}}

{{- define "gonka.redisEnv" -}}
{{- $v := .Values -}}
- name: GONKA_REDIS_URL
  value: {{ $v.redis.url | quote }}
{{- if $v.redis.user }}
- name: GONKA_REDIS_USER
  value: {{ $v.redis.user | quote }}
{{- end }}
{{- if $v.redis.auth }}
- name: GONKA_REDIS_PASSWORD_FILE
  value: /run/secrets/gonka/redis.password
{{- end }}
{{- end -}}

{{/*
Secret items a pod needs, as {secret, key, path} dicts; the CA secrets are added here.
Args: root, items (list of credentials keys), chainCa (bool), natsCa (bool), warmKey (bool).
*/}}
{{- define "gonka.secretSources" -}}
{{- $root := .root -}}
{{- if .items }}
- secret:
    name: {{ include "gonka.credentialsSecret" $root }}
    items:
    {{- range .items }}
      - key: {{ . }}
        path: {{ . }}
    {{- end }}
{{- end }}
{{- if .warmKey }}
- secret:
    name: {{ include "gonka.warmKeySecret" $root }}
    items:
      - key: {{ $root.Values.warmKey.key }}
        path: warm.key
{{- end }}
{{- if and .chainCa $root.Values.chain.caSecret }}
- secret:
    name: {{ $root.Values.chain.caSecret }}
    items:
      - key: ca.crt
        path: chain-ca.crt
{{- end }}
{{- if and .natsCa $root.Values.nats.caSecret }}
- secret:
    name: {{ $root.Values.nats.caSecret }}
    items:
      - key: ca.crt
        path: nats-ca.crt
{{- end }}
{{- end -}}

{{- define "gonka.affinity" -}}
podAntiAffinity:
{{- if eq .root.Values.antiAffinity "hard" }}
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "gonka.selectorLabels" . | nindent 10 }}
{{- else }}
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "gonka.selectorLabels" . | nindent 12 }}
{{- end }}
{{- end -}}

{{- define "gonka.containerSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsUser }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/*
One libgonka workload: Deployment (or StatefulSet), Service, PodDisruptionBudget.
Args (dict): root, component, daemon (binary name), v (the service's values), port, env (YAML
list, rendered), secrets (the gonka.secretSources output), readyPath, livePath, grace (seconds),
preStop (seconds), args (list), volumes/volumeMounts (YAML, rendered, optional), signerClient
(bool: label that lets the pod reach signerd), admin port list (extraPorts).
*/}}
{{- define "gonka.workload" -}}
{{- $root := .root -}}
{{- $ctx := dict "root" $root "component" .component -}}
{{- $name := printf "%s-%s" (include "gonka.fullname" $root) .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "gonka.labels" $ctx | nindent 4 }}
spec:
  replicas: {{ .v.replicas }}
  revisionHistoryLimit: 5
  # A rolling update never lowers capacity: the new pod must be ready before an old one drains.
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  selector:
    matchLabels:
      {{- include "gonka.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "gonka.selectorLabels" $ctx | nindent 8 }}
        {{- if .signerClient }}
        gonka.io/signer-client: "true"
        {{- end }}
      annotations:
        checksum/credentials: {{ toJson $root.Values.credentials | sha256sum | trunc 16 }}
    spec:
      serviceAccountName: {{ include "gonka.fullname" $root }}
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      terminationGracePeriodSeconds: {{ .grace }}
      securityContext:
        runAsNonRoot: true
        runAsUser: {{ $root.Values.podSecurity.runAsUser }}
        runAsGroup: {{ $root.Values.podSecurity.runAsUser }}
        fsGroup: {{ $root.Values.podSecurity.fsGroup }}
        seccompProfile:
          type: RuntimeDefault
      affinity:
        {{- include "gonka.affinity" $ctx | nindent 8 }}
      {{- if .secrets }}
      # Secret volumes are group-readable (0440) once fsGroup is set, and the daemons refuse a
      # credential file wider than 0600: this copies them, as the daemon's user, to a memory
      # volume with mode 0400.
      initContainers:
        - name: credentials
          image: "{{ $root.Values.image.repository }}:{{ $root.Values.image.tag }}"
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: ["/bin/sh", "-c", "for f in /run/secrets-in/*; do install -m 0400 \"$f\" /run/secrets/gonka/; done"]
          securityContext:
            {{- include "gonka.containerSecurity" $root | nindent 12 }}
          resources:
            requests: {cpu: 10m, memory: 16Mi}
            limits: {cpu: 100m, memory: 32Mi}
          volumeMounts:
            - name: secrets-in
              mountPath: /run/secrets-in
              readOnly: true
            - name: secrets
              mountPath: /run/secrets/gonka
      {{- end }}
      containers:
        - name: {{ .daemon }}
          image: "{{ $root.Values.image.repository }}:{{ $root.Values.image.tag }}"
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: [{{ .daemon | quote }}]
          {{- with .args }}
          args:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          env:
            {{- .env | trim | nindent 12 }}
          ports:
            - name: http
              containerPort: {{ .port }}
              protocol: TCP
            {{- with .extraPorts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          # Paths every daemon serves (gonka/drain/daemon.cc; versiond: gonka/supervisor).
          startupProbe:
            httpGet: {path: {{ .livePath }}, port: http}
            periodSeconds: 2
            failureThreshold: 60
          livenessProbe:
            httpGet: {path: {{ .livePath }}, port: http}
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            httpGet: {path: {{ .readyPath }}, port: http}
            periodSeconds: 2
            timeoutSeconds: 2
            failureThreshold: 1
          lifecycle:
            preStop:
              exec:
                command: ["sleep", {{ .preStop | quote }}]
          securityContext:
            {{- include "gonka.containerSecurity" $root | nindent 12 }}
          resources:
            {{- toYaml .v.resources | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if .secrets }}
            - name: secrets
              mountPath: /run/secrets/gonka
              readOnly: true
            {{- end }}
            {{- with .volumeMounts }}
            {{- . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            medium: Memory
            sizeLimit: 16Mi
        {{- if .secrets }}
        - name: secrets
          emptyDir:
            medium: Memory
            sizeLimit: 1Mi
        - name: secrets-in
          projected:
            defaultMode: 0400
            sources:
              {{- .secrets | trim | nindent 14 }}
        {{- end }}
        {{- with .volumes }}
        {{- . | nindent 8 }}
        {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "gonka.labels" $ctx | nindent 4 }}
spec:
  type: {{ (.v.service | default dict).type | default "ClusterIP" }}
  selector:
    {{- include "gonka.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: http
      port: {{ .port }}
      targetPort: http
      protocol: TCP
{{- if gt (int .v.replicas) 1 }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  labels:
    {{- include "gonka.labels" $ctx | nindent 4 }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "gonka.selectorLabels" $ctx | nindent 6 }}
{{- end }}
{{- end -}}

{{/* NetworkPolicy: Prometheus may scrape; `from` (YAML list of peers, rendered) reaches the port. */}}
{{- define "gonka.networkPolicy" -}}
{{- $root := .root -}}
{{- $ctx := dict "root" $root "component" .component -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ printf "%s-%s" (include "gonka.fullname" $root) .component }}
  labels:
    {{- include "gonka.labels" $ctx | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "gonka.selectorLabels" $ctx | nindent 6 }}
  policyTypes: ["Ingress"]
  ingress:
    - from:
        - namespaceSelector:
            matchLabels:
              {{- toYaml $root.Values.networkPolicy.metricsNamespaceSelector | nindent 14 }}
      ports:
        - port: {{ .port }}
          protocol: TCP
    {{- if .public }}
    - ports:
        - port: {{ .port }}
          protocol: TCP
    {{- else if .from }}
    - from:
        {{- .from | nindent 8 }}
      ports:
        - port: {{ .port }}
          protocol: TCP
    {{- end }}
{{- end -}}
