"""The demo server serves a real spice-gtk client, on ringspice and on the
reference library alike (the demo uses only the public <spice.h> API).

Starts tools' ringspice-demo on a free loopback port with the library from
--lib-dir first on LD_LIBRARY_PATH, checks it mapped that library, links the
main channel with spice-gtk (with and without the demo's password), stops it.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_harness  # noqa: E402  (free_ports, listening, check_mapped_lib)
import spice_probe   # noqa: E402


def run_demo(demo, lib_dir, password):
    port = qemu_harness.free_ports(1)[0]
    env = dict(os.environ, LD_LIBRARY_PATH=lib_dir)
    args = [demo, "--addr", "127.0.0.1", "--port", str(port), "--seconds", "60"]
    if password:
        args += ["--password", password]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        while not qemu_harness.listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"demo did not listen on {port}: {proc.stdout.read()}")
            time.sleep(0.05)
        qemu_harness.check_mapped_lib(proc.pid, lib_dir)
        results = {}
        results["right"] = spice_probe.probe(port=port, password=password, expect="connected", timeout=10)
        if password:
            results["wrong"] = spice_probe.probe(port=port, password=password + "x", expect="auth-error",
                                                 timeout=10)
        return results
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--demo", required=True)
    ap.add_argument("--lib-dir", default=os.environ.get("RS_SPICE_LIB_DIR"))
    a = ap.parse_args()
    if not a.lib_dir or not os.path.exists(os.path.join(a.lib_dir, "libspice-server.so.1")):
        print(f"demo_main: FAIL: no libspice-server.so.1 in {a.lib_dir!r}")
        return 1
    if not os.access(a.demo, os.X_OK):
        print(f"demo_main: FAIL: demo binary {a.demo} missing")
        return 1
    ok = True
    for password in (None, "demo-secret"):
        res = run_demo(a.demo, a.lib_dir, password)
        for name, r in res.items():
            print(json.dumps({"password": bool(password), "case": name, "ok": r["ok"], "outcome": r["outcome"]}))
            ok = ok and r["ok"]
    print("interop.demo_main:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
