#!/usr/bin/python3
"""Smoke test of rs-vdiload: three sessions against ringspice-demo --static.

Starts the demo on a free 127.0.0.1 port (with SPICE_DEBUG_ALLOW_MC=1 so that
one server takes several sessions), runs the load client with --sessions 3,
sends START, waits 2 s, sends STOP and checks the client's report: READY
ok=3 failed=0, three SETUP lines with bytes > 0, WINDOW sessions=3 dead=0
and one SESSION line per session. Every wait is bounded.
"""
import argparse
import os
import socket
import subprocess
import sys
import threading
import time


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kv(line):
    return dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)


class Lines:
    """Collects a process's stdout lines on a thread."""

    def __init__(self, proc):
        self.lines = []
        self.cond = threading.Condition()
        self.done = False
        self.proc = proc
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.done = True
            self.cond.notify_all()

    def wait_for(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i, line in enumerate(self.lines):
                    if line.startswith(prefix):
                        return line
                left = deadline - time.monotonic()
                if self.done or left <= 0:
                    raise RuntimeError(f"no {prefix} line; got {self.lines[-5:]}")
                self.cond.wait(left)


def wait_listening(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--load", required=True)
    ap.add_argument("--demo", required=True)
    ap.add_argument("--sessions", type=int, default=3)
    a = ap.parse_args()

    port = free_port()
    env = dict(os.environ, SPICE_DEBUG_ALLOW_MC="1")
    demo = subprocess.Popen([a.demo, "--port", str(port), "--static"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    load = None
    failures = []
    try:
        # The probe connection is a link that never completes; the server
        # drops it. It only tells us the demo listens.
        wait_listening(port, 20)
        load = subprocess.Popen([a.load, "--port", str(port), "--sessions", str(a.sessions),
                                 "--timeout", "20"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        out = Lines(load)
        ready = kv(out.wait_for("READY", 40))
        setup = [kv(l) for l in out.lines if l.startswith("SETUP")]
        load.stdin.write("START\n")
        load.stdin.flush()
        time.sleep(2)
        load.stdin.write("STOP\n")
        load.stdin.flush()
        window = kv(out.wait_for("WINDOW", 20))
        lat = kv(out.wait_for("LATENCY", 20))
        rc = load.wait(timeout=20)
        sessions = [kv(l) for l in out.lines if l.startswith("SESSION")]

        def check(cond, what):
            if not cond:
                failures.append(what)

        check(int(ready.get("ok", -1)) == a.sessions, f"READY ok={ready.get('ok')}")
        check(int(ready.get("failed", -1)) == 0, f"READY failed={ready.get('failed')}")
        check(len(setup) == a.sessions, f"{len(setup)} SETUP lines")
        check(all(int(s["bytes"]) > 0 for s in setup), "a SETUP line with bytes=0")
        check(sorted(int(s["i"]) for s in setup) == list(range(a.sessions)), "SETUP indices")
        check(int(window.get("sessions", -1)) == a.sessions,
              f"WINDOW sessions={window.get('sessions')}")
        check(int(window.get("dead", -1)) == 0, f"WINDOW dead={window.get('dead')}")
        check(float(window.get("seconds", 0)) > 0, "WINDOW seconds")
        check("samples" in lat, "LATENCY line without samples")
        check(len(sessions) == a.sessions, f"{len(sessions)} SESSION lines")
        check(rc == 0, f"rs-vdiload exit status {rc}")
        for line in out.lines:
            print(line)
    finally:
        if load is not None and load.poll() is None:
            load.kill()
            load.wait()
        demo.terminate()
        try:
            demo.wait(timeout=10)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
    if failures:
        print("FAIL: " + "; ".join(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
