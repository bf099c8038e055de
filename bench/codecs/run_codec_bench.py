#!/usr/bin/python3
"""Image compression end to end, ringspice vs the reference libspice-server.so.1,
side by side (issue 6, "Benchmark").

For each library, content (the demo's --static desktop, the same with
--photo, and `animated`: the desktop animating at 20 fps, followed by a
client for --follow seconds) and mode (image-compression off, auto_glz, auto_lz, quic, glz, lz,
lz4; then glz+zlib: glz with --zlib-glz always, auto+jpeg: auto_glz with
--jpeg always), one ringspice-demo runs (--static --tone 0 --size WxH, a free port,
LD_LIBRARY_PATH=<lib>). After its first frame the script measures the demo's
idle CPU for --idle seconds, then --reps times: spicy-screenshot connects
through a counting TCP relay (127.0.0.1, one thread pair per connection) and
exits after its first picture. Per screenshot (mean over the reps):
  bytes s->c   bytes the relay carried server -> client (all channels, link
               replies included)
  CPU ms       the demo's utime+stime (/proc/<pid>/stat, all threads) from
               before spicy-screenshot starts until every relayed connection
               has closed, minus the idle rate times that span
Both servers may wait for the client's display INIT before the first picture,
so wall time is not compared; CPU is. The picture is the primary surface
pushed to a new client: the reference sends it as LZ where GLZ is asked and
never as JPEG (no drawable, no lossy), so those rows compare choices, not one
codec (see README.md).

Usage: bench/codecs/run_codec_bench.py [--build build/release]
          [--lib-dir build/release/lib] [--ref-dir /lib/x86_64-linux-gnu]
          [--modes off,auto_glz,...] [--contents static,photo,animated] [--reps 5]
          [--size 1920x1080] [--idle 2] [--follow 3]
Python stdlib only; every process and thread it starts is stopped in `finally`.
"""

import argparse
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench_common import (ROOT, CLK_TCK, free_port, proc_cpu_ticks, ratio,  # noqa: E402
                          spice_lib_of, stop_group, wait_listening, worker_cpu_ticks)
# mode -> the demo's arguments: the seven image-compression settings, then two
# WAN variants (ZLIB_GLZ forced on glz; JPEG forced on auto_glz).
MODES = {m: ["--image-compression", m] for m in
         ("off", "auto_glz", "auto_lz", "quic", "glz", "lz", "lz4")}
MODES["glz+zlib"] = ["--image-compression", "glz", "--zlib-glz", "always"]
MODES["auto+jpeg"] = ["--image-compression", "auto_glz", "--jpeg", "always"]
CONTENTS = {"static": [], "photo": ["--photo"], "animated": ["--fps", "20"]}
# Contents the demo animates: the client follows them for --follow seconds
# (follow_client.py) instead of taking one screenshot; what is measured is
# then the drawings after the first picture, where GLZ really is GLZ.
ANIMATED = {"animated"}
FOLLOW_CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "follow_client.py")
SPICE_CHANNEL_MAIN, SPICE_CHANNEL_DISPLAY = 1, 2  # <spice/enums.h>
SPICE_MSG_PING = 4
SENT = re.compile(r"display \d+ client \d+ images sent:(.*)$")


class SpiceStreamParser:
    """Follows one server -> client SPICE stream (plain, mini headers, as
    spice-gtk negotiates with both servers): the link reply, the u32 link
    result, then [u16 type][u32 size][body] messages. Counts bytes per
    message type; `ok` turns False when the stream is not one it knows."""

    def __init__(self):
        self.need_header = True  # the 16-byte SpiceLinkHeader of the reply
        self.pending = bytearray()
        self.skip = 0
        self.in_messages = False
        self.by_type = {}
        self.ok = True

    def feed(self, data):
        pos, n = 0, len(data)
        while self.ok and pos < n:
            if self.skip:
                k = min(self.skip, n - pos)
                self.skip -= k
                pos += k
                continue
            want = 16 if self.need_header else 6
            k = min(want - len(self.pending), n - pos)
            self.pending += data[pos:pos + k]
            pos += k
            if len(self.pending) < want:
                return
            if self.need_header:
                magic, _, _, size = struct.unpack("<4sIII", self.pending)
                if magic != b"REDQ":
                    self.ok = False
                    return
                self.need_header = False
                self.skip = size + 4  # SpiceLinkReply, then the link result
            else:
                mtype, size = struct.unpack("<HI", self.pending)
                self.by_type[mtype] = self.by_type.get(mtype, 0) + 6 + size
                self.skip = size
            self.pending = bytearray()


class CountingRelay:
    """A TCP relay 127.0.0.1:port -> 127.0.0.1:upstream that counts the bytes
    it carries each way. One accept thread, two pump threads per connection;
    stop() closes every socket and joins every thread."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.lock = threading.Lock()
        self.s2c = 0
        self.c2s = 0
        self.connections = 0
        self.open = 0
        self.by_channel = {}  # SPICE_CHANNEL_* -> server -> client bytes
        self.pings = 0  # main channel SPICE_MSG_PING bytes (the reference's network test)
        self.sockets = []
        self.threads = []
        self.stopping = False
        self.unparsed = False
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self.acceptor.start()

    def counts(self):
        with self.lock:
            return self.s2c, self.c2s, self.open

    def _accept_loop(self):
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            client.settimeout(None)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.sockets += [client, server]
                self.connections += 1
                self.open += 1
            pair = {"left": 2, "channel": bytearray(), "parser": SpiceStreamParser()}
            for src, dst, down in ((server, client, True), (client, server, False)):
                t = threading.Thread(target=self._pump, args=(src, dst, down, pair), daemon=True)
                self.threads.append(t)
                t.start()

    def _pump(self, src, dst, down, pair):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    if down:
                        self.s2c += len(data)
                        pair["parser"].feed(data)
                    else:
                        self.c2s += len(data)
                        # SpiceLinkHeader (16 bytes), SpiceLinkMess: u32 connection_id, u8 channel_type
                        if len(pair["channel"]) < 21:
                            pair["channel"] += data[:21 - len(pair["channel"])]
                dst.sendall(data)
        except OSError:
            pass
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass
        with self.lock:
            pair["left"] -= 1
            if pair["left"] == 0:
                self.open -= 1
                channel = pair["channel"][20] if len(pair["channel"]) == 21 else -1
                parser = pair["parser"]
                total = sum(parser.by_type.values()) if parser.ok else -1
                if total >= 0 and channel >= 0:
                    self.by_channel[channel] = self.by_channel.get(channel, 0) + total
                    if channel == SPICE_CHANNEL_MAIN:
                        self.pings += parser.by_type.get(SPICE_MSG_PING, 0)
                else:
                    self.unparsed = True
                src.close()
                dst.close()

    def stop(self):
        self.stopping = True
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self.sockets)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        self.acceptor.join(timeout=5)
        for t in self.threads:
            t.join(timeout=5)


stop_demo = stop_group  # the demo runs in its own session


def one_run(demo_bin, lib_dir, mode, content, a, tmp, procs):
    """One demo on one library and mode; returns the per-screenshot means."""
    port = free_port()
    env = dict(os.environ, LD_LIBRARY_PATH=lib_dir)
    log_path = os.path.join(tmp, f"demo-{len(procs)}-{mode}-{content}.log")
    animated = content in ANIMATED
    cmd = [demo_bin] + ([] if animated else ["--static"]) + [
        "--tone", "0", "--size", a.size, "--port", str(port), "--seconds", "600"
    ] + MODES[mode] + CONTENTS[content]
    with open(log_path, "w") as log:
        demo = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    procs.append(demo)
    relay = None
    try:
        wait_listening(port, demo)
        lib = spice_lib_of(demo.pid)
        if not os.path.realpath(lib).startswith(os.path.realpath(lib_dir) + os.sep):
            raise RuntimeError(f"demo mapped {lib}, not a library from {lib_dir}")
        time.sleep(1.0)  # the first frame is drawn and the probe session is gone
        i0, k0, w0 = proc_cpu_ticks(demo.pid), worker_cpu_ticks(demo.pid), time.monotonic()
        time.sleep(a.idle)
        idle_span = time.monotonic() - w0
        idle_rate = (proc_cpu_ticks(demo.pid) - i0) / idle_span  # ticks/s
        idle_worker_rate = (worker_cpu_ticks(demo.pid) - k0) / idle_span

        relay = CountingRelay(port)
        shot = os.path.join(tmp, "shot.ppm")
        cpu_ticks, worker_ticks, span, walls = 0.0, 0.0, 0.0, []
        for _ in range(a.reps):
            if os.path.exists(shot):
                os.unlink(shot)
            c0, k0, t0 = proc_cpu_ticks(demo.pid), worker_cpu_ticks(demo.pid), time.monotonic()
            if animated:
                client = ["/usr/bin/python3", FOLLOW_CLIENT, "--port", str(relay.port),
                          "--seconds", str(a.follow)]
            else:
                client = [a.client, "-h", "127.0.0.1", "-p", str(relay.port), "-o", shot]
            r = subprocess.run(client, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=60 + a.follow)
            t_shot = time.monotonic()
            if r.returncode != 0 or (not animated and not os.path.exists(shot)):
                raise RuntimeError(f"{os.path.basename(client[1 if animated else 0])} failed "
                                   f"({r.returncode}): {r.stderr.strip()[-300:]}")
            deadline = time.monotonic() + 10
            while relay.counts()[2] > 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            if relay.counts()[2] > 0:
                raise RuntimeError("relayed connections did not close after the screenshot")
            time.sleep(0.2)  # the server's side of the disconnect
            c1, k1, t1 = proc_cpu_ticks(demo.pid), worker_cpu_ticks(demo.pid), time.monotonic()
            cpu_ticks += c1 - c0
            worker_ticks += k1 - k0
            span += t1 - t0
            walls.append(t_shot - t0)
            if demo.poll() is not None:
                raise RuntimeError(f"demo died ({demo.returncode})")
        s2c, c2s, _ = relay.counts()
        if relay.unparsed:
            raise RuntimeError("a relayed stream was not a plain SPICE stream with mini headers")
        cpu_ms = max(0.0, cpu_ticks - idle_rate * span) * 1000.0 / CLK_TCK / a.reps
        worker_ms = max(0.0, worker_ticks - idle_worker_rate * span) * 1000.0 / CLK_TCK / a.reps
        return {
            "lib": lib,
            "s2c": s2c / a.reps,
            "c2s": c2s / a.reps,
            "display": relay.by_channel.get(SPICE_CHANNEL_DISPLAY, 0) / a.reps,
            "pings": relay.pings / a.reps,
            "cpu_ms": cpu_ms,
            "worker_ms": worker_ms,
            "idle_ms_s": idle_rate * 1000.0 / CLK_TCK,
            "connections": relay.connections / a.reps,
            "wall_s": sorted(walls)[len(walls) // 2],
            "log": log_path,
        }
    finally:
        if relay:
            relay.stop()
        stop_demo(demo)


def images_sent(log_path):
    sent = {}
    with open(log_path, errors="replace") as f:
        for line in f:
            m = SENT.search(line)
            if m:
                for item in m.group(1).split():
                    if "=" in item:
                        k, v = item.split("=", 1)
                        sent[k] = sent.get(k, 0) + int(v)
    return sent


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build/release"))
    ap.add_argument("--lib-dir", default=None, help="ours (default <build>/lib)")
    ap.add_argument("--ref-dir", default="/lib/x86_64-linux-gnu")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--contents", default="static,photo")
    ap.add_argument("--reps", type=int, default=5, help="screenshots per demo (CPU is their mean)")
    ap.add_argument("--size", default="1920x1080", help="the demo's primary surface")
    ap.add_argument("--idle", type=float, default=2.0, help="seconds of idle CPU baseline")
    ap.add_argument("--client", default=shutil.which("spicy-screenshot") or "spicy-screenshot")
    ap.add_argument("--follow", type=float, default=3.0,
                    help="seconds a client follows an animated content")
    a = ap.parse_args()
    lib_dir = a.lib_dir or os.path.join(a.build, "lib")
    demo_bin = os.path.join(a.build, "tools/demo/ringspice-demo")
    modes = a.modes.split(",")
    contents = a.contents.split(",")
    for m in modes:
        if m not in MODES:
            sys.exit(f"unknown mode {m}; one of {','.join(MODES)}")
    for c in contents:
        if c not in CONTENTS:
            sys.exit(f"unknown content {c}; one of {','.join(CONTENTS)}")
    if not 1 <= a.reps <= 100:
        sys.exit("--reps: 1..100")
    for p in (demo_bin, os.path.join(lib_dir, "libspice-server.so.1"),
              os.path.join(a.ref_dir, "libspice-server.so.1"), a.client, "/usr/bin/python3"):
        if not os.path.exists(p):
            sys.exit(f"missing {p}; build the release preset / install spice-client-gtk")

    procs = []
    tmp = tempfile.mkdtemp(prefix="rs-codecbench-")
    load0 = os.getloadavg()
    t0 = time.monotonic()
    results = {}
    try:
        for c in contents:
            for m in modes:
                for name, d in (("ours", lib_dir), ("ref", a.ref_dir)):
                    results[(m, c, name)] = one_run(demo_bin, d, m, c, a, tmp, procs)
                    print(f"  {m:<9}{c:<7}{name:<5}s->c {results[(m, c, name)]['s2c']:>10.0f} B  "
                          f"CPU {results[(m, c, name)]['cpu_ms']:>7.1f} ms", file=sys.stderr)
        sent = {k: images_sent(v["log"]) for k, v in results.items() if k[2] == "ours"}
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    load1 = os.getloadavg()

    any_r = next(iter(results.values()))
    ref_lib = next(v["lib"] for k, v in results.items() if k[2] == "ref")
    print("command: " + " ".join(shlex.quote(x) for x in [sys.executable] + sys.argv))
    print(f"ours:      {any_r['lib']}")
    print(f"reference: {ref_lib}")
    print(f"demo: --static --tone 0 --size {a.size} [--photo] + MODE's arguments; "
          f"{a.reps} spicy-screenshot runs per demo through a counting relay; "
          f"idle baseline {a.idle:g} s; CPU tick {1000 / CLK_TCK:g} ms")
    print(f"load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, after "
          f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; total {time.monotonic() - t0:.0f} s\n")
    hdr = (f"{'mode':<10}{'content':<8}{'ours bytes':>12}{'ref bytes':>12}{'ratio':>7}"
           f"{'ours CPU ms':>13}{'ref CPU ms':>12}{'ratio':>7}"
           f"{'ours display':>14}{'ref display':>13}{'ratio':>7}")
    print(hdr)
    print("-" * len(hdr))
    for c in contents:
        for m in modes:
            o, r = results[(m, c, "ours")], results[(m, c, "ref")]
            print(f"{m:<10}{c:<8}{o['s2c']:>12.0f}{r['s2c']:>12.0f}{ratio(o['s2c'], r['s2c']):>7}"
                  f"{o['cpu_ms']:>13.1f}{r['cpu_ms']:>12.1f}{ratio(o['cpu_ms'], r['cpu_ms']):>7}"
                  f"{o['display']:>14.0f}{r['display']:>13.0f}{ratio(o['display'], r['display']):>7}")
    print("\nserver threads only (all but the main thread, which runs the demo's drawing "
          "and, for ringspice, the control shard), per screenshot, net of their idle rate:")
    for c in contents:
        for m in modes:
            o, r = results[(m, c, "ours")], results[(m, c, "ref")]
            print(f"{m:<10}{c:<8}worker CPU ms {o['worker_ms']:>8.1f} | {r['worker_ms']:>8.1f}"
                  f"  ratio {ratio(o['worker_ms'], r['worker_ms'])}")
    print("\nper screenshot (ours | ref): client->server bytes, main-channel PING bytes "
          "(the reference's network test), connections, median wall s, idle CPU; "
          "ours' image types sent (all reps)")
    for c in contents:
        for m in modes:
            o, r = results[(m, c, "ours")], results[(m, c, "ref")]
            types = " ".join(f"{k}={v}" for k, v in sorted(sent[(m, c, "ours")].items()))
            print(f"{m:<10}{c:<8}c->s {o['c2s']:.0f} | {r['c2s']:.0f}  "
                  f"ping {o['pings']:.0f} | {r['pings']:.0f}  conns {o['connections']:g} | "
                  f"{r['connections']:g}  wall {o['wall_s']:.2f} | {r['wall_s']:.2f}  "
                  f"idle {o['idle_ms_s']:.1f} | {r['idle_ms_s']:.1f} ms/s  [{types}]")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
