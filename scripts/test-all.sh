#!/usr/bin/env bash
# Runs every check and test of the workspace. Works on a fresh machine: installs the system
# packages the tests need (as root, with apt-get) before building.
#
#   ./scripts/test-all.sh            # everything
#   SKIP_APT=1 ./scripts/test-all.sh # do not touch system packages
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the test suites need: protoc for etcd-client's build, a real etcd and
# etcdctl for the etcd backend's tests, nft/ip/ping for the dataplane and lab tests.
# Later components add theirs here (bird2, gobgpd, containernetworking-plugins …).
APT_PACKAGES=(
    ca-certificates
    protobuf-compiler libprotobuf-dev
    etcd-server etcd-client
    nftables iproute2 iputils-ping python3
    containernetworking-plugins
)

install_packages() {
    [[ "${SKIP_APT:-0}" == 1 ]] && return 0
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    if [[ $(id -u) -ne 0 ]]; then
        echo "!!! missing system packages (${missing[*]}) and not root: install them first" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

step() { printf '\n=== %s\n' "$*"; }

install_packages

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, all features)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "binaries the tests run from other packages"
# Integration tests only get their own package's binaries built. calico-lab's tests run
# calico-node, calico and calico-ipam found next to calico-lab (target/debug); calico-ipam
# has no integration tests of its own, so the workspace test build does not produce its
# binary (the lab tests would skip loudly). Same features as the test build below.
cargo build --all-features -p calico-node -p calico-cni -p calico-ipam

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --all-features --no-fail-fast
    cargo test --workspace --all-features --doc
else
    cargo test --workspace --all-features --no-fail-fast
fi

step "benchmarks compile"
cargo bench -p calico-benches --no-run

step "main job: calicoctl validate on the bundled examples"
cargo run -q -p calicoctl -- validate -f examples/

step "policy simulation of every scenario"
for f in scenarios/*.json; do
    cargo run -q -p calico-lab -- simulate "$f"
done

echo
echo "all checks passed"
