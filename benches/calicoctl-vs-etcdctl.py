#!/usr/bin/env python3
"""calicoctl against raw etcdctl on the same data, in one run on one machine.

A real etcd is started on a free loopback port (temporary data directory, removed at the
end). For N GlobalNetworkPolicies:

1. write: `calicoctl create -f FILE` (decode, default, validate, one compare-and-swap create
   per resource, as calicoctl does) against `etcdctl txn` of the same keys and JSON values in
   batches of 128 puts (no decoding, no validation, no CAS: the floor);
2. list: `calicoctl get gnp -o json` (list, decode, encode) against
   `etcdctl get --prefix -w json` of the same prefix;
3. one: `calicoctl get gnp NAME -o yaml` against `etcdctl get KEY`.

The write pair runs on a fresh prefix each round (the previous round's keys are deleted
first, outside the timing). Prints medians, ranges and ratios calicoctl/etcdctl. Usage:

    cargo build --release -p calicoctl
    benches/calicoctl-vs-etcdctl.py [--policies 1000] [--rounds 7] [--target-dir target/release]
"""

import argparse
import base64
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

PREFIX = "/calico/resources/v3/projectcalico.org/globalnetworkpolicies/"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(cmd, env=None, stdin=None):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, input=stdin, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} {' '.join(cmd[1:3])}: exit {p.returncode}: {p.stdout[-500:]} {p.stderr[-500:]}")
    return dt, p.stdout


def policy(i):
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": f"policy-{i:05d}"},
        "spec": {
            "order": 100 + i,
            "selector": f"app == 'svc-{i % 50}'",
            "types": ["Ingress", "Egress"],
            "ingress": [{"action": "Allow", "protocol": "TCP",
                         "source": {"selector": f"role == 'client-{i % 7}'"},
                         "destination": {"ports": [80, 443, 8000 + i % 100]}}],
            "egress": [{"action": "Allow", "protocol": "UDP", "destination": {"ports": [53]}}],
        },
    }


def stats(xs):
    xs = sorted(xs)
    return statistics.median(xs), xs[0], xs[-1]


def line(name, ours, theirs):
    mo, lo, ho = stats(ours)
    mt, lt, ht = stats(theirs)
    print(f"{name:<34} calicoctl {mo*1e3:9.1f} ms [{lo*1e3:.1f}–{ho*1e3:.1f}]   "
          f"etcdctl {mt*1e3:9.1f} ms [{lt*1e3:.1f}–{ht*1e3:.1f}]   ratio {mo/mt:5.2f}×")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--policies", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", "target") + "/release")
    a = ap.parse_args()
    calicoctl = os.path.join(a.target_dir, "calicoctl")
    etcd_bin = shutil.which("etcd")
    etcdctl = shutil.which("etcdctl")
    if not (os.path.exists(calicoctl) and etcd_bin and etcdctl):
        raise SystemExit("need target/release/calicoctl, etcd and etcdctl (apt-get install etcd-server etcd-client)")

    work = tempfile.mkdtemp(prefix="calicoctl-bench-")
    client, peer = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{client}"
    etcd = subprocess.Popen(
        [etcd_bin, "--data-dir", os.path.join(work, "etcd"), "--listen-client-urls", endpoint,
         "--advertise-client-urls", endpoint, "--listen-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"default=http://127.0.0.1:{peer}", "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ctl_env = {"PATH": os.environ.get("PATH", ""), "ETCDCTL_API": "3"}
        for _ in range(100):
            if subprocess.run([etcdctl, "--endpoints", endpoint, "endpoint", "health"],
                              env=ctl_env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        env = {"PATH": os.environ.get("PATH", ""), "DATASTORE_TYPE": "etcdv3", "ETCD_ENDPOINTS": endpoint}
        docs = [policy(i) for i in range(a.policies)]
        manifest = os.path.join(work, "policies.json")
        with open(manifest, "w") as f:
            json.dump({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicyList",
                       "items": docs}, f)
        # etcdctl txn input: batches of puts (etcd's default --max-txn-ops is 128).
        values = [(PREFIX + d["metadata"]["name"], json.dumps(d, separators=(",", ":"))) for d in docs]
        batches = []
        for i in range(0, len(values), 128):
            puts = "".join(f"put {k} '{v}'\n" for k, v in values[i:i + 128])
            batches.append("\n" + puts + "\n\n")  # no compares, the puts, no else-ops

        def wipe():
            subprocess.run([etcdctl, "--endpoints", endpoint, "del", "--prefix", PREFIX],
                           env=ctl_env, check=True, capture_output=True)

        write_ours, write_theirs, list_ours, list_theirs, one_ours, one_theirs = [], [], [], [], [], []
        for _ in range(a.rounds):
            wipe()
            t0 = time.perf_counter()
            for b in batches:
                timed([etcdctl, "--endpoints", endpoint, "txn"], env=ctl_env, stdin=b)
            write_theirs.append(time.perf_counter() - t0)
            wipe()
            dt, out = timed([calicoctl, "create", "-f", manifest], env=env)
            assert f"Successfully created {a.policies}" in out, out
            write_ours.append(dt)
            dt, out = timed([calicoctl, "get", "gnp", "-o", "json"], env=env)
            assert len(json.loads(out)["items"]) == a.policies
            list_ours.append(dt)
            dt, out = timed([etcdctl, "--endpoints", endpoint, "get", "--prefix", PREFIX, "-w", "json"], env=ctl_env)
            assert json.loads(out)["count"] == a.policies
            list_theirs.append(dt)
            name = docs[a.policies // 2]["metadata"]["name"]
            one_ours.append(timed([calicoctl, "get", "gnp", name, "-o", "yaml"], env=env)[0])
            one_theirs.append(timed([etcdctl, "--endpoints", endpoint, "get", PREFIX + name], env=ctl_env)[0])
        print(f"{a.policies} GlobalNetworkPolicies, {a.rounds} rounds, etcd {endpoint}")
        line(f"write {a.policies}", write_ours, write_theirs)
        line(f"list {a.policies} (-o json)", list_ours, list_theirs)
        line("get one (-o yaml)", one_ours, one_theirs)
        per = statistics.median(write_ours) / a.policies
        print(f"calicoctl create: {per*1e3:.2f} ms per resource ({1/per:.0f}/s), one CAS create each")
    finally:
        etcd.terminate()
        etcd.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
