#!/usr/bin/env python3
"""CNI plugins against their Debian peers, in one run on one machine (root).

1. Pod ADD / DEL latency: `calico` + `calico-ipam` on the embedded datastore against
   Debian's `bridge` + `host-local` (containernetworking-plugins), one fresh network namespace
   per iteration, alternating the two so that machine noise hits both alike.
2. IPAM alone: N sequential allocations then N releases with `calico-ipam` against
   `host-local` (each an exec of the plugin, as a runtime does).

Prints medians, ranges and the ratios ours/theirs. Usage:

    cargo build --release -p calico-cni -p calico-ipam -p calicoctl
    sudo benches/cni-vs-bridge.py [--iterations 40] [--ipam 500] [--target-dir target/release]

Only addresses inside namespaces the script creates are used (10.233.0.0/16 and
10.234.0.0/16); everything is removed at the end, also on failure.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

DEBIAN = "/usr/lib/cni"
PREFIX = "cnib"


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def plugin(path, command, cid, netns, conf, args="", ifname="eth0", cni_path=""):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": cid,
        "CNI_NETNS": netns,
        "CNI_IFNAME": ifname,
        "CNI_ARGS": args,
        "CNI_PATH": cni_path,
    }
    t0 = time.perf_counter()
    p = subprocess.run([path], input=json.dumps(conf), env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{os.path.basename(path)} {command} {cid}: exit {p.returncode}: {p.stdout} {p.stderr}")
    return dt, p.stdout


def stats(xs):
    xs = sorted(xs)
    return statistics.median(xs), xs[0], xs[-1]


def fmt(xs):
    med, lo, hi = stats(xs)
    return f"median {med * 1e3:6.2f} ms (min {lo * 1e3:.2f}, max {hi * 1e3:.2f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument("--ipam", type=int, default=500)
    ap.add_argument("--target-dir", default="target/release")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("!!! needs root (network namespaces)")
    for b in ("bridge", "host-local"):
        if not os.path.exists(f"{DEBIAN}/{b}"):
            sys.exit(f"!!! {DEBIAN}/{b} missing: apt-get install containernetworking-plugins")
    ours = os.path.abspath(a.target_dir)
    for b in ("calico", "calico-ipam", "calicoctl"):
        if not os.path.exists(f"{ours}/{b}"):
            sys.exit(f"!!! {ours}/{b} missing: cargo build --release -p calico-cni -p calico-ipam -p calicoctl")

    tmp = tempfile.mkdtemp(prefix="cni-bench-")
    namespaces = []
    try:
        cni_path = f"{tmp}/bin"
        os.makedirs(cni_path)
        for b in ("calico", "calico-ipam"):
            shutil.copy(f"{ours}/{b}", cni_path)
        for b in ("bridge", "host-local"):
            os.symlink(f"{DEBIAN}/{b}", f"{cni_path}/{b}")
        ds = f"{tmp}/datastore.db"
        pool = f"{tmp}/pool.yaml"
        with open(pool, "w") as f:
            f.write("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: bench}\n"
                    "spec: {cidr: 10.233.0.0/16, blockSize: 26}\n")
        env = dict(os.environ, DATASTORE_TYPE="embedded", CALICO_DATASTORE_PATH=ds)
        run([f"{ours}/calicoctl", "create", "-f", pool], env=env)

        calico_conf = {
            "cniVersion": "1.0.0", "name": "k8s-pod-network", "type": "calico",
            "datastore_type": "embedded", "datastore_path": ds, "nodename": "bench-node",
            "nodename_file_optional": True,
            "mtu": 1500, "ipam": {"type": "calico-ipam"},
            "ipam_lock_file": f"{tmp}/ipam.lock", "endpoint_status_dir": f"{tmp}/status",
        }
        bridge_conf = {
            "cniVersion": "1.0.0", "name": "bench-bridge", "type": "bridge",
            "bridge": f"{PREFIX}br0", "isGateway": True, "ipMasq": False,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.234.0.0/16"}]],
                     "dataDir": f"{tmp}/host-local"},
        }
        fwd = open("/proc/sys/net/ipv4/ip_forward").read().strip()

        add = {"ours": [], "theirs": []}
        dele = {"ours": [], "theirs": []}
        for i in range(a.iterations):
            for who, path, conf in (("ours", f"{cni_path}/calico", calico_conf),
                                    ("theirs", f"{cni_path}/bridge", bridge_conf)):
                ns = f"{PREFIX}-{who}-{i}"
                run(["ip", "netns", "add", ns])
                namespaces.append(ns)
                netns = f"/run/netns/{ns}"
                cid = f"{who}{i:04d}" + "0" * 56
                args = f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-{who}-{i}"
                dt, _ = plugin(path, "ADD", cid, netns, conf, args, cni_path=cni_path)
                add[who].append(dt)
                dt, _ = plugin(path, "DEL", cid, netns, conf, args, cni_path=cni_path)
                dele[who].append(dt)
                run(["ip", "netns", "del", ns])
                namespaces.remove(ns)

        print(f"pod ADD/DEL, {a.iterations} iterations each, alternating:")
        for who, name in (("ours", "calico + calico-ipam (embedded)"), ("theirs", "bridge + host-local")):
            print(f"  {name:34} ADD {fmt(add[who])}   DEL {fmt(dele[who])}")
        r_add = statistics.median(add["ours"]) / statistics.median(add["theirs"])
        r_del = statistics.median(dele["ours"]) / statistics.median(dele["theirs"])
        print(f"  ratio ours/theirs: ADD {r_add:.2f}x (target <= 0.7x), DEL {r_del:.2f}x")

        # IPAM alone: N allocations then N releases, each an exec.
        n = a.ipam
        hl_conf = {"cniVersion": "1.0.0", "name": "bench-hl", "type": "host-local",
                   "ranges": [[{"subnet": "10.234.0.0/22"}]], "dataDir": f"{tmp}/hl-ipam"}
        hl_conf = {"cniVersion": "1.0.0", "name": "bench-hl", "ipam": {**hl_conf, "type": "host-local"}}
        ci_conf = dict(calico_conf, name="ipam-bench")
        res = {}
        for who, path, conf in (("theirs", f"{cni_path}/host-local", hl_conf),
                                ("ours", f"{cni_path}/calico-ipam", ci_conf)):
            t_add, t_del = [], []
            t0 = time.perf_counter()
            for i in range(n):
                dt, _ = plugin(path, "ADD", f"ipam{i:05d}", "/run/netns/none", conf, cni_path=cni_path)
                t_add.append(dt)
            wall_add = time.perf_counter() - t0
            for i in range(n):
                dt, _ = plugin(path, "DEL", f"ipam{i:05d}", "/run/netns/none", conf, cni_path=cni_path)
                t_del.append(dt)
            first = statistics.median(t_add[: n // 10])
            last = statistics.median(t_add[-(n // 10):])
            res[who] = n / wall_add
            print(f"IPAM {who:6} {os.path.basename(path):12}: {n} ADDs {fmt(t_add)}, first 10% {first * 1e3:.2f} -> last 10% "
                  f"{last * 1e3:.2f} ms, {n / wall_add:.0f} allocations/s; DEL {fmt(t_del)}")
        print(f"  ratio allocations/s ours/theirs: {res['ours'] / res['theirs']:.2f}x (target >= 5x)")
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write(fwd)
    finally:
        for ns in namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", f"{PREFIX}br0"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
