#!/usr/bin/env bash
# Build the local cluster's binaries from the pinned wrapper modules here: the control plane
# (./etcd, ./kwok, ./kubernetes) and the real node (kubelet and kube-proxy from ./kubernetes,
# ./containerd, ./runc, ./cni-plugins, ./coredns, the pause binary, and ./crane for the registry).
#
#   e2e/cluster/build.sh [component...]     # components: see cluster_components in lib.sh (default: all)
#
# Binaries land in $CLUSTER_BIN_ROOT/<component>-<version>/ (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/serverless-operator/bin); a component already built from the
# same go.mod/go.sum/flags/Go version is skipped. $CLUSTER_BIN_ROOT/current/ holds symlinks to
# every binary; its path is the only thing printed on stdout.
#
# Env: CLUSTER_BIN_ROOT, BUILD_JOBS (go build -p, default 2), GOTOOLCHAIN (left alone unless the
# local Go is older than a wrapper's `go` line, then go1.27.3 is fetched from the module proxy).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ldflags_for() {
	local c="$1" v date
	v="$(component_version "$c")"
	case "$c" in
	kubernetes)
		# Same values the upstream release build (hack/lib/version.sh) injects.
		local major minor
		major="$(cut -d. -f1 <<<"${v#v}")"
		minor="$(cut -d. -f2 <<<"$v")"
		date="$(module_time "$c")"
		local pkg f=""
		for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
			f+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
			f+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
		done
		echo "-s -w$f"
		;;
	etcd) echo "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$v" ;;
	containerd)
		local pkg=github.com/containerd/containerd/v2/version
		echo "-s -w -X $pkg.Version=$v -X $pkg.Package=github.com/containerd/containerd/v2"
		;;
	crane) echo "-s -w -X github.com/google/go-containerregistry/cmd/crane/cmd.Version=$v" ;;
	coredns | runc | cni-plugins) echo "-s -w" ;;
	pause) echo ;;
	kwok)
		# kwokctl's default Kubernetes version = the one built here.
		echo "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${v#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=$(component_version kubernetes)"
		;;
	esac
}

# Commit time of the upstream module version (from the proxy's .info), used as buildDate.
module_time() {
	local t
	t="$(module_info "$(component_module "$1")" "$(component_version "$1")" Time)"
	echo "${t:-1970-01-01T00:00:00Z}"
}

# The C compiler's version, for the components built with it (part of their cache key).
cc_version() {
	if [ "$(component_cgo "$1")" = 1 ] || [ "$1" = pause ]; then gcc -dumpfullversion; fi
}

build_component() {
	local c="$1" v moddir toolchain stamp
	moddir="$CLUSTER_SCRIPTS/$(component_dir "$c")"
	v="$(component_version "$c")"
	[ -n "$v" ] || die "cannot read the $c version from $moddir/go.mod"
	toolchain="$(go_toolchain "$moddir")"
	# kwok's Stages are made here: their recipe is part of its key (only its).
	local stages=""
	[ "$c" != kwok ] || stages="stages=$(declare -f kwok_stages with_selector)"
	stamp="$(build_stamp "$moddir" "$toolchain" "pkgs=$(component_packages "$c")" \
		"ldflags=$(ldflags_for "$c")" "files=$(component_files "$c")" \
		"tags=$(component_tags "$c") cgo=$(component_cgo "$c") cc=$(cc_version "$c")" \
		${stages:+"$stages"})"
	# shellcheck disable=SC2046 # one word per file
	build_dir "$c $v" "$(component_bin_dir "$c")" "$stamp" fill_component \
		$(component_binaries "$c") $(component_files "$c")
}

# fill_component DIR: build_component's build of $c into DIR (c, v, moddir and toolchain are its).
fill_component() {
	local out="$1/"
	if [ "$c" = pause ]; then
		# The sandbox's PID 1, as upstream builds it (build/pause/Makefile): static C.
		nice -n 10 gcc -Os -Wall -Werror -static -DVERSION="$v" -o "$1/pause" \
			"$(wrapped_module_dir "$moddir" "$(component_module "$c")")/$(component_packages "$c")" &&
			strip "$1/pause"
		return
	fi
	# runc's seccomp support needs libseccomp's headers.
	[ "$c" != runc ] || [ -f /usr/include/seccomp.h ] || apt_install "runc's seccomp support" libseccomp-dev
	# One package: name the output (go would call etcd's "server").
	[ "$(wc -w <<<"$(component_packages "$c")")" != 1 ] || out="$1/$(component_binaries "$c")"
	# shellcheck disable=SC2046 # one word per package
	go_build "$moddir" "$toolchain" "$(component_cgo "$c")" -tags "$(component_tags "$c")" \
		-ldflags "$(ldflags_for "$c")" -o "$out" $(component_packages "$c") || return 1
	[ "$c" != kwok ] || kwok_stages "$1/stages.yaml"
}

# kwok's controller needs Stage objects; use the same defaults kwokctl embeds (node-initialize,
# node-heartbeat-with-lease, pod-ready/complete/delete). A pod annotated with kwok's own
# POD_READY_DELAY (a duration) becomes ready that long after it is created instead of at once,
# to time cold starts against: the fast pod-ready stage leaves it to a copy of itself that waits.
POD_READY_DELAY='pod-ready.stage.kwok.x-k8s.io/delay'
kwok_stages() {
	local dir f key
	dir="$(wrapped_module_dir "$moddir" sigs.k8s.io/kwok)" || return 1
	key=".metadata.annotations[\"$POD_READY_DELAY\"]"
	for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
		pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
		echo "---"
		cat "$dir/kustomize/stage/$f" || return 1
	done >"$1"
	echo "---" >>"$1"
	with_selector "$key" DoesNotExist <"$dir/kustomize/stage/pod/fast/pod-ready.yaml" >>"$1" || return 1
	echo "---" >>"$1"
	with_selector "$key" Exists <"$dir/kustomize/stage/pod/fast/pod-ready.yaml" |
		awk -v key="$key" '
			/^  name: pod-ready$/ { print "  name: pod-ready-delayed"; next }
			/^  next:$/ { print "  delay:\n    durationMilliseconds: 0\n    durationFrom:\n      expressionFrom: '\''" key "'\''" }
			{ print }' >>"$1"
	grep -q 'name: pod-ready-delayed' "$1" && [ "$(grep -c "$POD_READY_DELAY" "$1")" = 3 ]
}

# with_selector KEY OPERATOR: a Stage (stdin) that also requires KEY to satisfy OPERATOR.
with_selector() {
	awk -v key="$1" -v op="$2" '
		{ print }
		/^    matchExpressions:$/ && !done { print "    - key: '\''" key "'\''\n      operator: '\''" op "'\''"; done = 1 }'
}

components=("$@")
[ "${#components[@]}" -gt 0 ] || read -r -a components <<<"$(cluster_components)"
for c in "${components[@]}"; do
	component_module "$c" >/dev/null || die "unknown component '$c' (known: $(cluster_components))"
	build_component "$c"
done

# Stable place with every binary (symlinks into the versioned dirs).
current="$CLUSTER_BIN_ROOT/current"
mkdir -p "$current"
for c in $(cluster_components); do
	for b in $(component_binaries "$c"); do
		[ -x "$(component_bin_dir "$c")/$b" ] && ln -sfn "$(component_bin_dir "$c")/$b" "$current/$b"
	done
done
echo "$current"
