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
# shellcheck source=../gobuild.sh
source "$CLUSTER_SCRIPTS/../gobuild.sh"

BUILD_JOBS="${BUILD_JOBS:-2}"
command -v go >/dev/null || die "go is not installed"

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
	local mod v
	mod="$(component_module "$1")"
	v="$(component_version "$1")"
	(cd "$CLUSTER_SCRIPTS/$(component_dir "$1")" && go mod download -json "$mod@$v" 2>/dev/null) |
		sed -n 's/^[[:space:]]*"Time": "\(.*\)",\{0,1\}$/\1/p' | head -1 | grep . || echo 1970-01-01T00:00:00Z
}

# The C compiler's version, for the components built with it (part of their cache key).
cc_version() {
	if [ "$(component_cgo "$1")" = 1 ] || [ "$1" = pause ]; then gcc -dumpfullversion; fi
}

build_component() {
	local c="$1" dir v stamp need toolchain b moddir
	moddir="$CLUSTER_SCRIPTS/$(component_dir "$c")"
	v="$(component_version "$c")"
	[ -n "$v" ] || die "cannot read the $c version from $moddir/go.mod"
	dir="$(component_bin_dir "$c")"

	toolchain="$(go_toolchain "$moddir")"
	stamp="$(build_stamp "$moddir" "$toolchain" "pkgs=$(component_packages "$c")" \
		"ldflags=$(ldflags_for "$c")" "files=$(component_files "$c")" \
		"tags=$(component_tags "$c") cgo=$(component_cgo "$c") cc=$(cc_version "$c")")"

	need=0
	[ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ] || need=1
	for b in $(component_binaries "$c") $(component_files "$c"); do [ -e "$dir/$b" ] || need=1; done
	if [ "$need" = 0 ]; then
		log "$c $v: up to date in $dir"
		return 0
	fi

	# runc's seccomp support needs libseccomp's headers.
	[ "$c" != runc ] || [ -f /usr/include/seccomp.h ] || apt_install "runc's seccomp support" libseccomp-dev
	log "$c $v: building $(component_binaries "$c") (go build -p $BUILD_JOBS) ..."
	local t0=$SECONDS tmp="$dir.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	(
		cd "$moddir"
		[ -n "$toolchain" ] && export GOTOOLCHAIN="$toolchain"
		export CGO_ENABLED="$(component_cgo "$c")" GOFLAGS="-mod=readonly -buildvcs=false"
		if [ "$c" = pause ]; then
			# The sandbox's PID 1, as upstream builds it (build/pause/Makefile): static C.
			nice -n 10 gcc -Os -Wall -Werror -static -DVERSION="$v" -o "$tmp/pause" \
				"$(go list -m -f '{{.Dir}}' "$(component_module "$c")")/$(component_packages "$c")"
			strip "$tmp/pause"
			exit 0
		fi
		local out="$tmp/"
		# One package: name the output (go would call etcd's "server").
		[ "$(wc -w <<<"$(component_packages "$c")")" = 1 ] && out="$tmp/$(component_binaries "$c")"
		# shellcheck disable=SC2046
		nice -n 10 go build -p "$BUILD_JOBS" -trimpath -tags "$(component_tags "$c")" \
			-ldflags "$(ldflags_for "$c")" -o "$out" $(component_packages "$c")
		if [ "$c" = kwok ]; then
			# kwok's controller needs Stage objects; use the same defaults kwokctl embeds
			# (node-initialize, node-heartbeat-with-lease, pod-ready/complete/delete).
			local moddir f
			moddir="$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
			for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
				pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
				echo "---"
				cat "$moddir/kustomize/stage/$f"
			done >"$tmp/stages.yaml"
		fi
	) || {
		rm -rf "$tmp"
		die "$c build failed"
	}
	for b in $(component_binaries "$c") $(component_files "$c"); do [ -e "$tmp/$b" ] || die "$c: $b missing after build"; done
	echo "$stamp" >"$tmp/.stamp"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	log "$c $v: built in $((SECONDS - t0))s -> $dir"
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
