#!/usr/bin/env bash
# Build a small image from Debian's packages without a container daemon, and push it.
#
#   samples/debian-image.sh REF "PACKAGE..." [APP_DIR] [-- CRANE_MUTATE_FLAG...]
#
# The root filesystem is Debian 12 (bookworm) made by mmdebstrap: only the packages named and
# their dependencies, unpacked without maintainer scripts (no shell, no package manager, no
# init), plus an unprivileged user 65532 ("app"), a /tmp, and APP_DIR's files (without tests
# and caches) under /app. crane turns it into a one-layer OCI image at REF, and `crane mutate`
# sets the user (65532) and any flags given after `--` (entrypoint, cmd, workdir, env, labels).
# A REF on 127.0.0.1 is pushed over plain HTTP (the local cluster's registry).
#
# Env: SUITE (default bookworm), MIRROR (default http://deb.debian.org/debian), CRANE (default:
# the local cluster's), IMAGE_BUILD_DIR (where rootfs.tar is kept; default target/image/<name>).
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: samples/debian-image.sh REF \"PACKAGE...\" [APP_DIR] [-- CRANE_MUTATE_FLAG...]"
ref="${1:?$usage}"
packages="${2:?$usage}"
shift 2
app_dir=""
if [ $# -gt 0 ] && [ "$1" != -- ]; then
	app_dir="$1"
	shift
fi
[ $# -eq 0 ] || {
	[ "$1" = -- ] || {
		echo "$usage" >&2
		exit 2
	}
	shift
}

SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
CRANE="${CRANE:-${XDG_CACHE_HOME:-$HOME/.cache}/serverless-operator/bin/current/crane}"
name="${ref##*/}"
name="${name%%[:@]*}"
out="${IMAGE_BUILD_DIR:-target/image/$name}"
# The same sources give the same files and times (mmdebstrap honours SOURCE_DATE_EPOCH): the
# time of the last commit that touched this script or the app, so other commits keep the digest.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct -- samples/debian-image.sh ${app_dir:+"$app_dir"} 2>/dev/null || echo 0)}"

command -v mmdebstrap >/dev/null || {
	echo "installing mmdebstrap (builds the image's root filesystem)" >&2
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap; } >/dev/null
}
[ -x "$CRANE" ] || e2e/cluster/build.sh crane >/dev/null

if [ -n "$app_dir" ] && [ ! -d "$app_dir" ]; then
	echo "$app_dir is not a directory" >&2
	exit 1
fi
root="$out/rootfs"
rm -rf "$root" "$out/rootfs.tar"
mkdir -p "$out"
# Docs are not needed at run time, nor perl: dependencies such as adduser pull it in only
# for maintainer scripts, which never run here. /dev comes from the container runtime.
mmdebstrap --quiet --format=directory --variant=extract --include="${packages// /,}" \
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/perl*' --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/perl*' \
	"$SUITE" "$root" "$MIRROR"

# The extract variant runs no hooks, so the image's own files are added here. Left behind by
# apt and dpkg and read by nothing in the image: caches, lists, logs, the dpkg database.
# dpkg itself is unpacked as a dependency, and is of no use without its database.
rm -rf "$root"/dev "$root"/var/cache/* "$root"/var/lib/apt "$root"/var/lib/dpkg "$root"/var/log/* \
	"$root"/usr/bin/dpkg* "$root"/usr/sbin/dpkg* "$root"/usr/libexec/dpkg "$root"/etc/dpkg
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\napp:x:65532:65532:app:/app:/usr/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\napp:x:65532:\n' >"$root/etc/group"
install -d -m 1777 "$root/tmp"
install -d -m 0755 "$root/app"
# No set-user-ID programs: the user is fixed and never escalates.
find "$root" -type f -perm /6000 -exec chmod ug-s {} +
if [ -n "$app_dir" ]; then
	# The app's code only: not its tests, docs, manifests or hidden files.
	(cd "$app_dir" && tar --exclude=tests --exclude=__pycache__ --exclude='*.md' --exclude='*.yaml' \
		--exclude='*.ini' -c -- *) | tar -C "$root/app" --no-same-owner -x
fi
tar --sort=name --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime --format=posix \
	--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	-C "$root" -cf "$out/rootfs.tar" .
rm -rf "$root"

insecure=()
[[ "$ref" == 127.0.0.1:* || "$ref" == localhost:* ]] && insecure=(--insecure)
# crane logs every blob; keep that for a failure.
crane() { "$CRANE" "$@" 2>"$out/crane.log" || { cat "$out/crane.log" >&2 && return 1; }; }
crane append "${insecure[@]}" --oci-empty-base -f "$out/rootfs.tar" -t "$ref" >/dev/null
crane mutate "${insecure[@]}" "$ref" --user 65532:65532 "$@" -t "$ref"
