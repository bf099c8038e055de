#!/usr/bin/python3
"""End-to-end check of the VDI benchmark's pieces on ringspice (ctest
rs_vdi_end_to_end): rs-vmdriver with two office VMs in ONE process (so two
servers driven by one loop thread) and rs-vdiload with one session on each.
Both sessions link, and in a 3 s window each receives frame markers with
latency samples: the driver's frames reach a client through the library.
Stdlib only; every process is stopped in `finally`."""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench_common import free_port_range, stop_group  # noqa: E402


def kv(line):
    return dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--load", required=True)
    a = ap.parse_args()
    port = free_port_range(2)
    drv = subprocess.Popen([a.driver, "--vms", "2", "--workload", "office", "--port", str(port),
                            "--seconds", "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True, start_new_session=True)
    load = None
    try:
        line = drv.stdout.readline()
        while line and not line.startswith("READY"):
            line = drv.stdout.readline()
        if not line:
            sys.exit(f"FAIL: the driver exited before READY ({drv.wait()})")
        load = subprocess.Popen([a.load, "--port", str(port), "--ports", "2", "--sessions", "2",
                                 "--timeout", "30"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, start_new_session=True)
        lines = []
        for line in load.stdout:
            lines.append(line.strip())
            if line.startswith("READY"):
                break
        ready = [l for l in lines if l.startswith("READY")]
        if not ready or kv(ready[0]).get("ok") != "2":
            sys.exit(f"FAIL: both sessions must link: {lines[-3:]}")
        load.stdin.write("START\n")
        load.stdin.flush()
        time.sleep(3.0)
        load.stdin.write("STOP\n")
        load.stdin.flush()
        out, _ = load.communicate(timeout=30)
        lines = out.splitlines()
        sessions = [kv(l) for l in lines if l.startswith("SESSION")]
        lat = [kv(l) for l in lines if l.startswith("LATENCY")]
        if len(sessions) != 2:
            sys.exit(f"FAIL: expected 2 SESSION lines: {lines}")
        for s in sessions:
            if int(s["frames"]) < 3:
                sys.exit(f"FAIL: session {s['i']} got {s['frames']} frames in 3 s (office: ~5/s)")
        if not lat or int(lat[0]["samples"]) < 6:
            sys.exit(f"FAIL: too few latency samples: {lat}")
        print("OK: 2 sessions on one process's 2 VMs;", " ".join(
            f"session {s['i']}: {s['frames']} frames" for s in sessions), lat[0])
    finally:
        if load is not None:
            stop_group(load)
        stop_group(drv)


if __name__ == "__main__":
    main()
