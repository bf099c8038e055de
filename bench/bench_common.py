"""Helpers shared by the side-by-side benchmark runners (bench/*/run_*.py):
ports, /proc readings and process teardown. Python stdlib only."""

import os
import signal
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_range(count, lo=20000, hi=60000):
    """A base port such that base .. base+count-1 are all free on 127.0.0.1."""
    step = max(count, 64)
    for base in range(lo + (os.getpid() * 97) % 4000, hi - count, step):
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports")


def proc_cpu_ticks(pid):
    """utime + stime of the whole process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # fields 14, 15


def worker_cpu_ticks(pid):
    """utime + stime of the process's threads other than the main one, in
    clock ticks: the server's own threads (ringspice's display shards, the
    reference's "SPICE Worker") where the main thread runs the VMM or demo.
    A thread that already ended is not counted."""
    total = 0
    task_dir = f"/proc/{pid}/task"
    for tid in os.listdir(task_dir):
        if int(tid) == pid:
            continue
        try:
            with open(f"{task_dir}/{tid}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(rest[11]) + int(rest[12])
    return total


def spice_lib_of(pid):
    """The libspice-server.so the process mapped (its real path)."""
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            if "libspice-server.so" in line:
                return os.path.realpath(line.split()[-1])
    return "?"


def wait_listening(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen in time")


def stop_group(proc, timeout=5):
    """SIGTERM to the process group proc leads (start_new_session=True), then
    SIGKILL if it is still there after timeout seconds."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            proc.wait()


def ratio(a, b):
    if b == 0:
        return "n/a" if a == 0 else "inf"
    return f"{a / b:.2f}"
