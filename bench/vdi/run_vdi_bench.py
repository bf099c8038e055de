#!/usr/bin/python3
"""VDI sessions side by side: ringspice vs the reference libspice-server.so.1
(Debian's libspice-server1), in one run (issue 7).

For each workload (idle, office, scroll, video), each N and each library, the
script starts N synthetic VMs (bench/vdi/rs-vmdriver: one process per VM as
QEMU runs them, or with --shared, ringspice only, all N VMs in one process
sharing its display shards), opens N sessions with the load client
(bench/vdi/rs-vdiload: main, display, cursor and inputs per session, on our
runtime, a sink that measures frames and latency through the drivers' frame
markers), lets them settle, then measures a window of --window seconds:

  sessions      sessions alive at the end of the window / N
  fps           frame markers delivered per session per second
  p50/p99 ms    latency from the guest's draw to the marker's last byte
  CPU %/sess    server CPU (all driver processes, all threads) per session,
                in % of one core
  wk ms/frame   CPU of the threads other than the VMM main thread (the
                display workers) per delivered frame
  RSS KiB/sess  (RSS with the sessions at the window's end - RSS before any
                client) / N, all driver processes (the VMs' framebuffers are
                resident before: the driver touches them at start)
  PSS KiB/sess  the same in PSS (/proc/<pid>/smaps_rollup): library pages
                shared by the N processes count once, not N times
  thr/sess      threads of all driver processes / N
  wake/s/sess   voluntary context switches of all driver threads per second
                per session (each is one sleep and one wakeup)
  KB/sess-min   bytes the client received per session-minute
  pkt/sess-min  TCP segments the servers sent (ss segs_out) per session-minute
  setup B       bytes a session received from link to its first display MARK

Then one table per workload with both libraries and ours/ref per metric, the
largest N that held the office workload at p99 <= 50 ms, and, with --plot,
a PNG of CPU and memory per session against N (python3-matplotlib).
N grows only while the previous N held: when a library loses sessions or
the machine's available memory falls under --min-free-mib, larger N are
skipped for it and the table says so.

Usage: bench/vdi/run_vdi_bench.py [--build build/release] [--lib-dir DIR]
          [--ref-dir /lib/x86_64-linux-gnu] [--workloads idle,office]
          [--sessions 1,10,100,1000] [--window 10] [--settle 3]
          [--compression auto_glz] [--shared] [--plot out.png]
Python stdlib only (matplotlib for --plot); every process it starts is
stopped in `finally`.
"""

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench_common import (ROOT, CLK_TCK, free_port_range, ratio,  # noqa: E402
                          spice_lib_of, stop_group)

EXPECTED_FPS = {"idle": 0.0, "office": 5.0, "scroll": 10.0, "video": 25.0}


def kv(line):
    return dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)


def mem_available_mib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    return 0


class Sample:
    """One reading of a set of processes from /proc."""

    def __init__(self, pids):
        self.t = time.monotonic()
        self.cpu = 0        # all threads, ticks
        self.worker = 0     # threads other than the main one, ticks
        self.rss_kib = 0
        self.pss_kib = 0    # shared pages split among the processes mapping them
        self.threads = 0
        self.vcsw = 0       # voluntary context switches, all threads
        for pid in pids:
            try:
                self._read(pid)
            except (FileNotFoundError, ProcessLookupError):
                pass

    def _read(self, pid):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    self.rss_kib += int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    self.pss_kib += int(line.split()[1])
        task_dir = f"/proc/{pid}/task"
        for tid in os.listdir(task_dir):
            try:
                with open(f"{task_dir}/{tid}/stat") as f:
                    rest = f.read().rsplit(")", 1)[1].split()
                ticks = int(rest[11]) + int(rest[12])
                with open(f"{task_dir}/{tid}/status") as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            self.vcsw += int(line.split()[1])
            except FileNotFoundError:
                continue
            self.threads += 1
            self.cpu += ticks
            if int(tid) != pid:
                self.worker += ticks


def segs_out(ports):
    """Sum of segs_out over established TCP sockets whose local port is one of
    ports (the servers' side of the sessions)."""
    out = subprocess.run(["ss", "-tinH", "state", "established"], capture_output=True,
                         text=True, check=True).stdout
    total = 0
    local_ok = False
    for line in out.splitlines():
        if line and not line[0].isspace():
            cols = line.split()
            # Recv-Q Send-Q Local:Port Peer:Port (state omitted by the filter)
            local = cols[2] if len(cols) >= 4 else ""
            try:
                local_ok = int(local.rsplit(":", 1)[1]) in ports
            except (IndexError, ValueError):
                local_ok = False
        elif local_ok:
            for tok in line.split():
                if tok.startswith("segs_out:"):
                    total += int(tok.split(":", 1)[1])
            local_ok = False
    return total


class Lines:
    """Reads a child's stdout lines on a thread, so the runner can wait for a
    given line with a timeout without blocking on a silent child."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = []
        self.cond = threading.Condition()
        self.done = False
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.done = True
            self.cond.notify_all()

    def wait_for(self, prefix, timeout, start=0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    if self.lines[i].startswith(prefix):
                        return i
                left = deadline - time.monotonic()
                if self.done or left <= 0:
                    tail = self.lines[-3:]
                    why = "exited" if self.done else f"nothing in {timeout:.0f} s"
                    raise RuntimeError(f"{self.proc.args[0]}: no {prefix} ({why}); last: {tail}")
                self.cond.wait(left)


def start_drivers(a, lib_dir, workload, n, shared, procs):
    """Starts the VMs; returns (driver processes, their Lines, server ports)."""
    base = free_port_range(n)
    env = dict(os.environ, LD_LIBRARY_PATH=lib_dir)
    common = [a.driver, "--workload", workload, "--seconds", "0"]
    if a.compression:
        common += ["--image-compression", a.compression]
    if a.streaming_video:
        common += ["--streaming-video", a.streaming_video]
    groups = [(base, n)] if shared else [(base + i, 1) for i in range(n)]
    drivers, readers = [], []
    for port, vms in groups:
        p = subprocess.Popen(common + ["--port", str(port), "--vms", str(vms),
                                       "--seed", str(port)],
                             env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        procs.append(p)
        drivers.append(p)
        readers.append(Lines(p))
    for r in readers:
        r.wait_for("READY", timeout=30 + n * 0.05)
    return drivers, readers, set(range(base, base + n))


def one_run(a, lib_dir, workload, n, shared, procs):
    drivers, _, ports = start_drivers(a, lib_dir, workload, n, shared, procs)
    pids = [d.pid for d in drivers]
    lib = spice_lib_of(pids[0])
    load = None
    try:
        time.sleep(1.0)  # the first paint
        before = Sample(pids)
        load = subprocess.Popen([a.load, "--port", str(min(ports)), "--ports", str(n),
                                 "--sessions", str(n)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
        procs.append(load)
        out = Lines(load)
        ready = kv(out.lines[out.wait_for("READY", timeout=120 + n * 0.5)])
        setup = [int(kv(l)["bytes"]) for l in out.lines if l.startswith("SETUP")]
        time.sleep(a.settle)
        s0, segs0 = Sample(pids), segs_out(ports)
        load.stdin.write("START\n")
        load.stdin.flush()
        time.sleep(a.window)
        s1, segs1 = Sample(pids), segs_out(ports)
        load.stdin.write("STOP\n")
        load.stdin.flush()
        w = kv(out.lines[out.wait_for("WINDOW", timeout=30)])
        lat = kv(out.lines[out.wait_for("LATENCY", timeout=30)])
        load.wait(timeout=30)
        dead = [d.args for d in drivers if d.poll() is not None]
        if dead:
            raise RuntimeError(f"{len(dead)} driver(s) died during the run")
    finally:
        if load is not None:
            stop_group(load)
        for d in drivers:
            stop_group(d)
    secs = s1.t - s0.t
    frames = int(w["frames"])
    alive = int(w["sessions"])
    minute = 60.0 / float(w["seconds"]) / n
    return {
        "lib": lib,
        "ok": int(ready["ok"]),
        "alive": alive,
        "fps": frames / float(w["seconds"]) / n,
        "p50": float(lat.get("p50_ms", "nan")) if int(lat["samples"]) else None,
        "p99": float(lat.get("p99_ms", "nan")) if int(lat["samples"]) else None,
        "cpu_pct": (s1.cpu - s0.cpu) / CLK_TCK / secs / n * 100.0,
        "wk_ms_frame": ((s1.worker - s0.worker) / CLK_TCK * 1000.0 / frames) if frames else None,
        "rss_kib": (s1.rss_kib - before.rss_kib) / n,
        "pss_kib": (s1.pss_kib - before.pss_kib) / n,
        "threads": s1.threads / n,
        "wakeups": (s1.vcsw - s0.vcsw) / secs / n,
        "kb_min": int(w["bytes"]) * minute / 1000.0,
        "pkt_min": (segs1 - segs0) * minute,
        "setup_b": sum(setup) / len(setup) if setup else 0,
        "setup_s": float(ready.get("setup_s", 0)),
        "vm_pss_kib": s1.pss_kib / n,  # everything a VM's process holds, per VM
        "stream_frames": int(w.get("stream_frames", 0)),
    }


METRICS = [  # label, key, format, lower is better
    ("sessions", "alive", "{:d}", False),
    ("fps", "fps", "{:.1f}", False),
    ("p50 ms", "p50", "{:.1f}", True),
    ("p99 ms", "p99", "{:.1f}", True),
    ("CPU %/sess", "cpu_pct", "{:.3f}", True),
    ("wk ms/frame", "wk_ms_frame", "{:.2f}", True),
    ("RSS KiB/sess", "rss_kib", "{:.0f}", True),
    ("PSS KiB/sess", "pss_kib", "{:.0f}", True),
    ("thr/sess", "threads", "{:.2f}", True),
    ("wake/s/sess", "wakeups", "{:.2f}", True),
    ("KB/sess-min", "kb_min", "{:.1f}", True),
    ("pkt/sess-min", "pkt_min", "{:.0f}", True),
    ("setup B", "setup_b", "{:.0f}", True),
]


def fmt(v, f):
    if v is None:
        return "-"
    return f.format(v)


def print_table(workload, results, libs, counts):
    print(f"\n### {workload}"
          f" (expected {EXPECTED_FPS[workload]:g} fps per session)\n")
    print("| N | library | " + " | ".join(m[0] for m in METRICS) + " |")
    print("|---|---|" + "---|" * len(METRICS))
    for n in counts:
        rows = [(name, results.get((name, workload, n))) for name in libs]
        for name, r in rows:
            if r is None:
                continue
            if "error" in r:
                print(f"| {n} | {name} | " + r["error"] + " |" + " |" * (len(METRICS) - 1))
                continue
            print(f"| {n} | {name} | " + " | ".join(fmt(r[k], f) for _, k, f, _ in METRICS) + " |")
        ours, ref = rows[0][1], rows[-1][1] if len(rows) > 1 else None
        if ours and ref and "error" not in ours and "error" not in ref and rows[0][0] != rows[-1][0]:
            cells = []
            for _, k, _, _ in METRICS:
                o, r = ours[k], ref[k]
                cells.append("-" if o is None or r is None else ratio(o, r))
            print(f"| {n} | ours/ref | " + " | ".join(cells) + " |")


def held(r, workload, p99_limit=50.0):
    """Whether a run held all its sessions at the expected rate and p99."""
    if r is None or "error" in r or r["alive"] < r["ok"] or r["ok"] == 0:
        return False
    exp = EXPECTED_FPS[workload]
    if exp and r["fps"] < 0.9 * exp:
        return False
    return r["p99"] is None or r["p99"] <= p99_limit


def plot(path, results, libs, counts, workloads):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("--plot needs matplotlib: apt-get install -y python3-matplotlib")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for wl in workloads:
        for name in libs:
            pts = [(n, results[(name, wl, n)]) for n in counts
                   if (name, wl, n) in results and "error" not in results[(name, wl, n)]]
            if not pts:
                continue
            xs = [n for n, _ in pts]
            style = "-o" if name.startswith("ours") else "--s"
            axes[0].plot(xs, [r["cpu_pct"] for _, r in pts], style, label=f"{name} {wl}")
            axes[1].plot(xs, [max(r["pss_kib"], 1) / 1024.0 for _, r in pts], style,
                         label=f"{name} {wl}")
    for ax, title in zip(axes, ("CPU per session (% of a core)", "memory per session (PSS, MiB)")):
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=0.01 if ax is axes[0] else 0.1)
        ax.set_xlabel("sessions N")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"\nplot: {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build/release"))
    ap.add_argument("--lib-dir", default=None, help="ours (default <build>/lib)")
    ap.add_argument("--ref-dir", default="/lib/x86_64-linux-gnu")
    ap.add_argument("--workloads", default="idle,office")
    ap.add_argument("--sessions", default="1,10,100,1000")
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--compression", default="", help="image-compression for every VM "
                    "(default: the library's)")
    ap.add_argument("--streaming-video", default="", help="off, all or filter "
                    "(default: the library's)")
    ap.add_argument("--shared", action="store_true",
                    help="also run ringspice with all N VMs in one process")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--min-free-mib", type=int, default=2048)
    ap.add_argument("--plot", default="", help="write a PNG of CPU and memory per session "
                    "against N (needs python3-matplotlib)")
    ap.add_argument("--json", default="", help="also write every figure to this JSON file")
    ap.add_argument("--replot", default="", help="only draw --plot from a --json file")
    a = ap.parse_args()
    if a.replot:
        with open(a.replot) as f:
            saved = json.load(f)
        results = {tuple(k.split("|")[:2]) + (int(k.split("|")[2]),): v
                   for k, v in saved["results"].items()}
        plot(a.plot or "vdi.png", results, saved["libs"], saved["counts"], saved["workloads"])
        return
    lib_dir = a.lib_dir or os.path.join(a.build, "lib")
    a.driver = os.path.join(a.build, "bench/vdi/rs-vmdriver")
    a.load = os.path.join(a.build, "bench/vdi/rs-vdiload")
    for p in (a.driver, a.load, os.path.join(lib_dir, "libspice-server.so.1")):
        if not os.path.exists(p):
            sys.exit(f"missing {p}; build the release preset first "
                     "(cmake --preset release && cmake --build --preset release)")
    workloads = a.workloads.split(",")
    for wl in workloads:
        if wl not in EXPECTED_FPS:
            sys.exit(f"unknown workload {wl}")
    counts = [int(x) for x in a.sessions.split(",")]
    runs = [("ours", lib_dir, False)]
    if a.shared:
        runs.append(("ours-shared", lib_dir, True))
    if not a.no_reference:
        runs.append(("reference", a.ref_dir, False))
    libs = [r[0] for r in runs]

    # Two pipes per driver process, plus the load client's.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * max(counts) + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    results, lib_paths, procs = {}, {}, []
    t0 = time.monotonic()
    try:
        for wl in workloads:
            for name, ldir, shared in runs:
                stopped = None
                for n in counts:
                    if stopped:
                        results[(name, wl, n)] = {"error": stopped}
                        continue
                    if mem_available_mib() < a.min_free_mib:
                        stopped = f"skipped: MemAvailable < {a.min_free_mib} MiB"
                        results[(name, wl, n)] = {"error": stopped}
                        continue
                    # Memory for N VMs, from what each VM held at the last N
                    # (x1.3), must fit: running out would bring the OOM killer.
                    prev = [results[(name, wl, m)] for m in counts
                            if m < n and "vm_pss_kib" in results.get((name, wl, m), {})]
                    if prev:
                        need_mib = n * prev[-1]["vm_pss_kib"] * 1.3 / 1024
                        if need_mib > mem_available_mib() - a.min_free_mib:
                            stopped = (f"skipped: N={n} needs ~{need_mib:.0f} MiB, "
                                       f"{mem_available_mib()} MiB available")
                            results[(name, wl, n)] = {"error": stopped}
                            continue
                    print(f"[{time.monotonic() - t0:6.0f} s] {wl} {name} N={n}", file=sys.stderr)
                    try:
                        r = one_run(a, ldir, wl, n, shared, procs)
                        lib_paths[name] = r["lib"]
                    except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
                        r = {"error": f"failed: {e}"}
                    results[(name, wl, n)] = r
                    if not held(r, wl, p99_limit=float("inf")):
                        stopped = f"skipped: N={n} did not hold"
                    time.sleep(1.0)
    finally:
        for p in procs:
            stop_group(p)  # every child leads its own process group

    print("command: " + " ".join(shlex.quote(x) for x in [sys.executable] + sys.argv))
    for name in libs:
        print(f"{name}: {lib_paths.get(name, '?')}")
    print(f"window {a.window:g} s after {a.settle:g} s settle; image compression: "
          f"{a.compression or 'library default'}; streaming video: "
          f"{a.streaming_video or 'library default'}; {os.cpu_count()} cores; "
          f"total {time.monotonic() - t0:.0f} s")
    for wl in workloads:
        print_table(wl, results, libs, counts)
    if "office" in workloads:
        print()
        for name in libs:
            best = max([n for n in counts if held(results.get((name, "office", n)), "office")],
                       default=0)
            print(f"office held at p99 <= 50 ms: {name} N = {best} (largest N tried that held)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"command": sys.argv, "libs": libs, "counts": counts,
                       "workloads": workloads, "lib_paths": lib_paths,
                       "results": {f"{k[0]}|{k[1]}|{k[2]}": v for k, v in results.items()}},
                      f, indent=1)
    if a.plot:
        plot(a.plot, results, libs, counts, workloads)


if __name__ == "__main__":
    main()
