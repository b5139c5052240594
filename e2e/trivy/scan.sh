#!/usr/bin/env bash
# Scan what this project ships with Trivy's embedded Kubernetes checks (no download): the
# installs under config/ and the rendered children of every sample.
#
#   e2e/trivy/scan.sh OPERATOR_BINARY KUBECTL
#
# Fails on any HIGH or CRITICAL finding not listed, with its reason, in trivyignore.yaml; prints
# every finding of lower severity for the record. The manifests scanned are kept in
# target/scan/.
set -euo pipefail

TRIVY_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../process.sh
source "$TRIVY_SCRIPTS/../process.sh"
repo="$REPO_ROOT"
operator="${1:?usage: scan.sh OPERATOR_BINARY KUBECTL}"
kubectl="${2:?usage: scan.sh OPERATOR_BINARY KUBECTL}"
trivy="$("$TRIVY_SCRIPTS/build.sh")"

out="$repo/target/scan"
rm -rf "$out"
mkdir -p "$out"
cd "$repo"
# What a user installs (config/default includes crd/, rbac/ and manager/).
for dir in config/default config/impersonation config/impersonation/tenant config/flux config/argocd; do
	"$kubectl" kustomize "$dir" >"$out/$(tr / - <<<"$dir").yaml" || die "kustomize $dir failed"
done
for sample in samples/*.yaml samples/*/*.yaml; do
	# samples/invalid/ shows refusals; it renders nothing.
	case "$sample" in samples/invalid/*) continue ;; esac
	grep -q '^kind: ServerlessApp' "$sample" || continue
	"$operator" render -f "$sample" >"$out/render-$(basename "$sample")" || die "render $sample failed"
done
log "scanning $(find "$out" -name '*.yaml' | wc -l) files in $out"

scan() {
	"$trivy" config --skip-check-update --skip-version-check --quiet \
		--misconfig-scanners kubernetes --cache-dir "$repo/target/trivy-cache" \
		--ignorefile "$TRIVY_SCRIPTS/trivyignore.yaml" "$@" "$out"
}
scan --severity LOW,MEDIUM --format table --table-mode summary
scan --severity HIGH,CRITICAL --exit-code 1 || die "Trivy found HIGH or CRITICAL issues (above)"
log "no HIGH or CRITICAL finding left"
