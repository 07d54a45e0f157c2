#!/usr/bin/env bash
# Build the local test control plane (etcd, kube-apiserver, kube-controller-manager,
# kubectl, helm) from the Go modules pinned in tests/cluster/go.mod and
# tests/cluster/helm/go.mod, into a cache outside the work tree:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/rototo-operator/cluster/<key>/bin
#
# <key> hashes the pin files, this script and `go version`, so binaries are rebuilt
# only when a pin (or the toolchain) changes. Quiet on success: prints the bin dir.
#
#   tests/cluster/build.sh              build if needed, print the bin dir
#   tests/cluster/build.sh --print-dir  print the bin dir (built or not), build nothing
#   tests/cluster/build.sh --check      exit 0 if the bin dir is complete, 1 otherwise
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GO="${GO:-go}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED="${CGO_ENABLED:-0}"

BINARIES=(etcd kube-apiserver kube-controller-manager kubectl helm)

die() {
    echo "tests/cluster/build.sh: $*" >&2
    exit 1
}

command -v "$GO" >/dev/null 2>&1 || die "step 'locate go' failed: '$GO' not found on PATH"
go_version="$("$GO" version)" || die "step 'go version' failed"

key="$(
    {
        echo "$go_version"
        for f in go.mod go.sum helm/go.mod helm/go.sum build.sh; do
            echo "== $f"
            cat "$here/$f"
        done
    } | sha256sum | cut -c1-16
)"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/rototo-operator/cluster"
out="$cache_root/$key"
bin="$out/bin"

complete() {
    [[ -f "$out/complete" ]] || return 1
    local b
    for b in "${BINARIES[@]}"; do
        [[ -x "$bin/$b" ]] || return 1
    done
}

case "${1:-}" in
--print-dir)
    echo "$bin"
    exit 0
    ;;
--check)
    complete
    exit $?
    ;;
"") ;;
*) die "unknown argument '$1' (use --print-dir or --check)" ;;
esac

if complete; then
    echo "$bin"
    exit 0
fi

mkdir -p "$cache_root"
# One build at a time per cache dir (two pytest runs or make jobs may race).
exec 9>"$cache_root/$key.lock"
flock 9
if complete; then
    echo "$bin"
    exit 0
fi

mkdir -p "$out/logs"
tmp="$(mktemp -d "$out/bin.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

modver() { # <module dir> <module path>
    (cd "$1" && "$GO" list -m -f '{{.Version}}' "$2")
}

step() { # <name> <log> <command...>
    local name="$1" log="$2"
    shift 2
    if ! "$@" >"$log" 2>&1; then
        echo "tests/cluster/build.sh: step '$name' failed (log: $log):" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
}

step "go mod download (tests/cluster)" "$out/logs/download.log" \
    bash -c "cd '$here' && '$GO' mod download"
step "go mod download (tests/cluster/helm)" "$out/logs/download-helm.log" \
    bash -c "cd '$here/helm' && '$GO' mod download"

kube_version="$(modver "$here" k8s.io/kubernetes)" || die "step 'resolve k8s.io/kubernetes version' failed"
helm_version="$(modver "$here/helm" helm.sh/helm/v3)" || die "step 'resolve helm version' failed"
kube_major="${kube_version#v}"
kube_major="${kube_major%%.*}"
kube_minor="${kube_version#v*.}"
kube_minor="${kube_minor%%.*}"

kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$kube_major"
    kube_ldflags+=" -X $pkg.gitMinor=$kube_minor -X $pkg.gitTreeState=clean"
done
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
helm_ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"

build() { # <binary> <module dir> <package> <ldflags>
    step "go build $1 ($3)" "$out/logs/$1.log" \
        bash -c "cd '$2' && '$GO' build -trimpath -ldflags='$4' -o '$tmp/$1' '$3'"
}

build etcd "$here" go.etcd.io/etcd/server/v3 "-s -w"
build kubectl "$here" k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"
build kube-apiserver "$here" k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
build kube-controller-manager "$here" k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
build helm "$here/helm" helm.sh/helm/v3/cmd/helm "$helm_ldflags"

rm -rf "$bin"
mv "$tmp" "$bin"
trap - EXIT
{
    echo "go: $go_version"
    echo "k8s.io/kubernetes: $kube_version"
    echo "helm.sh/helm/v3: $helm_version"
} >"$out/complete"
echo "$bin"
