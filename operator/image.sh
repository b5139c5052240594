#!/usr/bin/env bash
# Build the operator's OCI image without a container daemon: a static release binary in one
# layer, user 65532, no shell, written as an OCI image layout. The same commit gives the same
# bytes (sorted tar with fixed owners and times, gzip without a name or time, the commit's time
# as the image's creation time), so the same digest.
#
#   operator/image.sh BINARY OUT_DIR     # OUT_DIR becomes an OCI layout; prints the digest
#
# BINARY must be static (`make image-binary`: release, glibc linked in), as the image holds no
# libc. Env: IMAGE_REF (the name written into the layout), SOURCE_DATE_EPOCH (default: the
# commit's time), IMAGE_REVISION (default: the commit), IMAGE_SOURCE.
# `Containerfile` next to this script builds the same layout with Docker, Buildah or kaniko.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${1:?usage: operator/image.sh BINARY OUT_DIR}"
out="${2:?usage: operator/image.sh BINARY OUT_DIR}"
version="$(cargo metadata --no-deps --format-version 1 --offline 2>/dev/null |
	jq -r '.packages[] | select(.name == "serverless-operator") | .version')"
[ -n "$version" ] || {
	echo "cannot read the operator's version" >&2
	exit 1
}
IMAGE_REF="${IMAGE_REF:-ghcr.io/serverless-operator/serverless-operator:v$version}"
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
IMAGE_REVISION="${IMAGE_REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
IMAGE_SOURCE="${IMAGE_SOURCE:-https://github.com/serverless-operator/serverless-operator}"
created="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"

# A program interpreter or a needed library means a libc the image does not have.
if readelf -ld "$bin" | grep -q 'INTERP\|(NEEDED)'; then
	echo "$bin is dynamically linked; the image has no libc for it" >&2
	exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root"
install -m 0755 "$bin" "$tmp/root/serverless-operator"
touch -d "@$SOURCE_DATE_EPOCH" "$tmp/root/serverless-operator"
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
	--format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	-C "$tmp/root" -cf "$tmp/layer.tar" serverless-operator
gzip -n -9 <"$tmp/layer.tar" >"$tmp/layer.tar.gz"

rm -rf "$out"
mkdir -p "$out/blobs/sha256"
# blob FILE MEDIATYPE: store FILE by digest, print its descriptor.
blob() {
	local sum size
	sum="$(sha256sum "$1" | cut -d' ' -f1)"
	size="$(stat -c %s "$1")"
	cp "$1" "$out/blobs/sha256/$sum"
	jq -cn --arg m "$2" --arg d "sha256:$sum" --argjson s "$size" '{mediaType: $m, digest: $d, size: $s}'
}

labels="$(jq -cn --arg src "$IMAGE_SOURCE" --arg rev "$IMAGE_REVISION" --arg v "$version" --arg c "$created" '{
	"org.opencontainers.image.title": "serverless-operator",
	"org.opencontainers.image.description": "Kubernetes operator that turns a ServerlessApp into Deployments, Services, HPAs and KEDA scalers",
	"org.opencontainers.image.source": $src,
	"org.opencontainers.image.revision": $rev,
	"org.opencontainers.image.version": $v,
	"org.opencontainers.image.created": $c,
	"org.opencontainers.image.licenses": "Apache-2.0"}')"
diff_id="sha256:$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)"
jq -cn --arg c "$created" --arg diff "$diff_id" --argjson l "$labels" '{
	created: $c, architecture: "amd64", os: "linux",
	config: {User: "65532:65532", Entrypoint: ["/serverless-operator"], Cmd: ["run"], Labels: $l},
	rootfs: {type: "layers", diff_ids: [$diff]},
	history: [{created: $c, created_by: "operator/image.sh"}]}' >"$tmp/config.json"

config_desc="$(blob "$tmp/config.json" application/vnd.oci.image.config.v1+json)"
layer_desc="$(blob "$tmp/layer.tar.gz" application/vnd.oci.image.layer.v1.tar+gzip)"
jq -cn --argjson c "$config_desc" --argjson l "$layer_desc" --argjson a "$labels" '{
	schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
	config: $c, layers: [$l], annotations: $a}' >"$tmp/manifest.json"
manifest_desc="$(blob "$tmp/manifest.json" application/vnd.oci.image.manifest.v1+json)"
jq -cn --argjson m "$manifest_desc" --arg ref "$IMAGE_REF" '{
	schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
	manifests: [$m + {platform: {architecture: "amd64", os: "linux"}, annotations: {"org.opencontainers.image.ref.name": $ref}}]}' >"$out/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"

echo "$manifest_desc" | jq -r .digest
echo "image $IMAGE_REF: $(jq -r .digest <<<"$manifest_desc"), layer $(numfmt --to=iec-i --suffix=B "$(jq .size <<<"$layer_desc")") compressed, binary $(numfmt --to=iec-i --suffix=B "$(stat -c %s "$bin")")" >&2
