{{/* Name of the chart, truncated to the 63 characters a label allows. */}}
{{- define "leviathan-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the release name, with the chart name unless the release already contains it. */}}
{{- define "leviathan-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "leviathan-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "leviathan-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "leviathan-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "leviathan-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: leviathan
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "leviathan-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "leviathan-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "leviathan-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "leviathan-operator.engineImage" -}}
{{- printf "%s:%s" .Values.engineImage.repository (default .Chart.AppVersion .Values.engineImage.tag) -}}
{{- end -}}

{{/*
A CRD of files/crds/, a copy of crds/ at the repository's top level (`make chart-crds` copies
them; a chart test fails when they differ): rendered as it is, plus the keep policy when
crds.keep is set. The same test checks that nothing else differs.
*/}}
{{- define "leviathan-operator.crd" -}}
{{- $crd := .root.Files.Get (printf "files/crds/%s" .file) | fromYaml -}}
{{- if .root.Values.crds.keep -}}
{{- $annotations := default (dict) $crd.metadata.annotations -}}
{{- $_ := set $annotations "helm.sh/resource-policy" "keep" -}}
{{- $_ := set $crd.metadata "annotations" $annotations -}}
{{- end -}}
{{ toYaml $crd }}
{{- end -}}
