#!/usr/bin/env python3
"""Smoke test of rs-vmdriver (issue 7): two office VMs for 3 s, no client.

Checks the VDI contract's output: the READY line (port, vms, the driver's
pid) before anything else of the contract, one VM line per VM with frames
drawn and none refused, then DONE, and exit status 0. The ports are picked
free on 127.0.0.1 first.
"""
import argparse
import re
import socket
import subprocess
import sys


def free_port_pair():
    """A port P such that P and P+1 are free on 127.0.0.1 (bounded tries)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--vms", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=3)
    args = ap.parse_args()
    port = free_port_pair()
    cmd = [args.driver, "--port", str(port), "--vms", str(args.vms),
           "--workload", "office", "--seconds", str(args.seconds)]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=args.seconds + 40)
    out = proc.stdout.splitlines()
    failures = []
    if proc.returncode != 0:
        failures.append(f"exit status {proc.returncode}")
    ready = [i for i, l in enumerate(out) if l.startswith("READY ")]
    if len(ready) != 1:
        failures.append(f"expected one READY line, got {len(ready)}")
    else:
        m = re.fullmatch(r"READY port=(\d+) vms=(\d+) pid=(\d+)", out[ready[0]])
        if not m or int(m[1]) != port or int(m[2]) != args.vms or int(m[3]) <= 1:
            failures.append(f"bad READY line: {out[ready[0]]!r}")
    vm_lines = {}
    for i, l in enumerate(out):
        m = re.fullmatch(r"VM i=(\d+) frames=(\d+) refused=(\d+)", l)
        if m:
            if ready and i < ready[0]:
                failures.append("a VM line before READY")
            vm_lines[int(m[1])] = (int(m[2]), int(m[3]), i)
    if sorted(vm_lines) != list(range(args.vms)):
        failures.append(f"VM lines for {sorted(vm_lines)}, expected 0..{args.vms - 1}")
    for i, (frames, refused, _) in sorted(vm_lines.items()):
        # office draws about 5 frames a second; any frame at all proves the
        # timer, the workload and the device; a refusal with no client and an
        # empty 64 MB heap would be a device bug.
        if frames < 1:
            failures.append(f"VM {i} drew no frames")
        if refused != 0:
            failures.append(f"VM {i}: {refused} submissions refused")
    if not out or out[-1] != "DONE":
        failures.append("the last line is not DONE")
    elif vm_lines and max(i for _, _, i in vm_lines.values()) > len(out) - 1:
        failures.append("DONE before the VM lines")
    print("\n".join(out))
    if proc.stderr:
        print(proc.stderr, file=sys.stderr)
    if failures:
        print("FAIL: " + "; ".join(failures))
        return 1
    print(f"PASS: {args.vms} VMs drew " +
          ", ".join(str(v[0]) for _, v in sorted(vm_lines.items())) + " frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
