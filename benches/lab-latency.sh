#!/usr/bin/env bash
# End to end on the real kernel: a policy write in the datastore -> the first packet whose
# verdict changed, through the embedded store, calico-node's syncer and calculation graph,
# and nftables. Needs root (network namespaces). Prints p50/p99 for both directions.
#
#   sudo benches/lab-latency.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-50}"
if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP (not root): the lab builds network namespaces" >&2
    exit 0
fi
cargo build -q --release -p calico-lab -p calico-node
target="${CARGO_TARGET_DIR:-target}/release"
"$target/calico-lab" latency examples/lab/quickstart.json \
    --from-case open --to-case shop-locked-down --rounds "$rounds"
