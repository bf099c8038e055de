#!/usr/bin/python3
"""Per-session cost of idle connected sessions, ringspice vs the reference
libspice-server.so.1, side by side (issue 7, first slice).

For each library, ONE ringspice-demo (--static --size 1024x768, a free port,
LD_LIBRARY_PATH=<lib>, SPICE_DEBUG_ALLOW_MC=1 so sessions coexist) serves
N = 1, 10, 50 sessions opened by rs_sessions_load (main + display each, held
idle). Before the measured runs, one warm-up session connects and leaves, so
one-time costs (first client, encoder setup) are not charged to N=1.
From /proc/<demo pid>, per N:
  RSS/session    (VmRSS with the N sessions idle 10 s - VmRSS before) / N
  threads        Threads with the N sessions connected (before in brackets)
  CPU/session    utime+stime over the 10 s idle window / N
  setup bytes    bytes a session received from link to its display MARK
                 (main + display, link replies included), mean
  idle bytes     bytes a session received during the idle window, mean
Then one table, both libraries and ours/reference per row.

Usage: bench/sessions/run_sessions_bench.py [--build build/release]
          [--lib-dir build/release/lib] [--ref-dir /lib/x86_64-linux-gnu]
          [--sessions 1,10,50] [--idle 10]
Python stdlib only; everything it starts is killed in `finally`.
"""

import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return int(out["VmRSS"].split()[0]), int(out["Threads"])  # KiB, count


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # utime + stime (fields 14, 15)


def spice_lib_of(pid):
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            if "libspice-server.so" in line:
                return line.split()[-1]
    return "?"


def wait_listening(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"demo exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("demo did not listen in time")


def read_until(proc, prefix, timeout):
    """Reads the load client's stdout lines until one starts with prefix."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"load client exited ({proc.wait()}) before {prefix}: {lines[-3:]}")
        lines.append(line.strip())
        if line.startswith(prefix):
            return lines
    raise RuntimeError(f"no {prefix} within {timeout}s")


def kv(line):
    return dict(p.split("=", 1) for p in line.split()[1:])


def run_load(load_bin, port, n, demo_pid, idle_s, timers):
    """Opens n sessions, idles idle_s, returns the measurements."""
    rss0, thr0 = proc_status(demo_pid)
    proc = subprocess.Popen([load_bin, "--port", str(port), "--sessions", str(n)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    timers.append(proc)
    try:
        lines = read_until(proc, "READY", timeout=60)
        setup = [int(kv(l)["bytes"]) for l in lines if l.startswith("SETUP")]
        setup_ms = int(kv(lines[-1])["setup_ms"])
        cpu0 = proc_cpu_ticks(demo_pid)
        time.sleep(idle_s)
        cpu1 = proc_cpu_ticks(demo_pid)
        rss1, thr1 = proc_status(demo_pid)
        proc.stdin.close()
        idle = kv(read_until(proc, "IDLE", timeout=10)[-1])
        rc = proc.wait(timeout=10)
        if rc != 0:
            raise RuntimeError(f"load client failed ({rc}) at N={n}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {
        "rss_kib": (rss1 - rss0) / n,
        "threads": thr1,
        "threads_before": thr0,
        "cpu_ms": (cpu1 - cpu0) * 1000.0 / CLK_TCK / n,
        "setup_bytes": sum(setup) / len(setup),
        "idle_bytes": int(idle["bytes"]) / n,
        "setup_ms": setup_ms,
    }


def bench_lib(name, lib_dir, demo_bin, load_bin, counts, idle_s, procs):
    port = free_port()
    env = dict(os.environ, LD_LIBRARY_PATH=lib_dir, SPICE_DEBUG_ALLOW_MC="1")
    cmd = [demo_bin, "--static", "--tone", "0", "--size", "1024x768", "--port", str(port)]
    demo = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    procs.append(demo)
    try:
        wait_listening(port, demo)
        time.sleep(1.0)  # the first frame
        lib = spice_lib_of(demo.pid)
        # Warm-up: one session in and out.
        warm = subprocess.run([load_bin, "--port", str(port), "--sessions", "1", "--hold", "1"],
                              stdout=subprocess.DEVNULL, timeout=30)
        if warm.returncode != 0:
            raise RuntimeError(f"{name}: warm-up session failed")
        time.sleep(1.0)
        results = {}
        for n in counts:
            results[n] = run_load(load_bin, port, n, demo.pid, idle_s, procs)
            if demo.poll() is not None:
                raise RuntimeError(f"{name}: demo died at N={n}")
            time.sleep(1.0)  # let the server drop the sessions before the next baseline
        return lib, results
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGTERM)
            try:
                demo.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()


def ratio(a, b):
    if b == 0:
        return "n/a" if a == 0 else "inf"
    return f"{a / b:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build/release"))
    ap.add_argument("--lib-dir", default=None, help="ours (default <build>/lib)")
    ap.add_argument("--ref-dir", default="/lib/x86_64-linux-gnu")
    ap.add_argument("--sessions", default="1,10,50")
    ap.add_argument("--idle", type=float, default=10.0)
    a = ap.parse_args()
    lib_dir = a.lib_dir or os.path.join(a.build, "lib")
    demo_bin = os.path.join(a.build, "tools/demo/ringspice-demo")
    load_bin = os.path.join(a.build, "bench/sessions/rs_sessions_load")
    counts = [int(x) for x in a.sessions.split(",")]
    for p in (demo_bin, load_bin, os.path.join(lib_dir, "libspice-server.so.1")):
        if not os.path.exists(p):
            sys.exit(f"missing {p}; build the release preset first")

    procs = []
    t0 = time.monotonic()
    try:
        ours_lib, ours = bench_lib("ours", lib_dir, demo_bin, load_bin, counts, a.idle, procs)
        ref_lib, ref = bench_lib("reference", a.ref_dir, demo_bin, load_bin, counts, a.idle, procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    print("command: " + " ".join(shlex.quote(x) for x in [sys.executable] + sys.argv))
    print(f"ours:      {ours_lib}")
    print(f"reference: {ref_lib}")
    print(f"demo: --static --tone 0 --size 1024x768, SPICE_DEBUG_ALLOW_MC=1; session = main + display "
          f"(noauth), idle window {a.idle:g} s; one warm-up session before N=1; "
          f"total {time.monotonic() - t0:.0f} s\n")
    rows = [
        ("RSS/session (KiB)", "rss_kib", "{:.0f}"),
        ("threads (with N)", "threads", "{:d}"),
        ("CPU/session idle (ms)", "cpu_ms", "{:.2f}"),
        ("setup bytes/session", "setup_bytes", "{:.0f}"),
        ("idle bytes/session", "idle_bytes", "{:.0f}"),
        ("setup time all N (ms)", "setup_ms", "{:d}"),
    ]
    hdr = f"{'metric':<24}{'N':>4}{'ours':>14}{'reference':>14}{'ours/ref':>10}"
    print(hdr)
    print("-" * len(hdr))
    for label, key, fmt in rows:
        for n in counts:
            o, r = ours[n][key], ref[n][key]
            print(f"{label:<24}{n:>4}{fmt.format(o):>14}{fmt.format(r):>14}{ratio(o, r):>10}")
    print(f"\nthreads before any session: ours {ours[counts[0]]['threads_before']}, "
          f"reference {ref[counts[0]]['threads_before']}")


if __name__ == "__main__":
    main()
