"""Video streams reach spice-gtk and end exact: the demo plays its 320x240
photo-like video (one COPY of a fresh bitmap per frame) with
--streaming-video all while a real client (SpiceClientGLib through python3-gi)
stays connected; the server turns the video into an MJPEG stream, which the
client decodes into its primary surface; when the video stops, the stream
times out and the server resends its area losslessly, so the client's own
copy of the primary equals the demo's rendering pixel for pixel. On ringspice
the server's log must also say streams and stream frames were sent
(--check-log; off for the reference, whose log says nothing of the kind).
"""
import argparse
import ctypes
import json
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_harness  # noqa: E402
import screens  # noqa: E402
import spice_probe  # noqa: E402

FRAMES, FPS = 75, 25
STREAMS = re.compile(r"display 0 client \d+ images sent:.*video streams: (\d+), frames: (\d+)")


def capture(port, deadline_s):
    """Connect, follow the animation, return (w, h, rgb) of the client's primary."""
    GLib, GObject, Spice = spice_probe.load_spice()
    session = Spice.Session()
    session.set_property("host", "127.0.0.1")
    session.set_property("port", str(port))
    for prop in ("enable-audio", "enable-usbredir", "enable-smartcard"):
        session.set_property(prop, False)
    state = {"primary": None, "last": None, "error": None}

    def on_primary(_ch, fmt, width, height, stride, _shmid, imgdata):
        state["primary"] = (fmt, width, height, stride, imgdata)

    def on_invalidate(_ch, *_args):
        state["last"] = time.monotonic()

    def on_event(_ch, event):
        name = spice_probe._event_name(event)
        if name.startswith("ERROR") or name == "CLOSED":
            state["error"] = name

    def on_channel(_s, channel):
        ctype = Spice.Channel.type_to_string(channel.get_property("channel-type"))
        if ctype == "display":
            GObject.Object.connect(channel, "display-primary-create", on_primary)
            GObject.Object.connect(channel, "display-invalidate", on_invalidate)
            GObject.Object.connect(channel, "channel-event", on_event)
        if ctype != "main":  # the session links main; the application the rest
            channel.connect()

    GObject.Object.connect(session, "channel-new", on_channel)
    if not session.connect():
        raise screens.ScreenError("spice-gtk did not start connecting")
    ctx = GLib.MainContext.default()
    start = time.monotonic()
    settle = FRAMES / FPS + 2.0
    try:
        while time.monotonic() - start < deadline_s:
            # Drain what is ready before sleeping: a client that reads one
            # message per 2 ms falls seconds behind a 25 fps video and then
            # drops its frames as late.
            for _ in range(1000):
                if not ctx.iteration(False):
                    break
            time.sleep(0.002)
            if state["error"]:
                raise screens.ScreenError(f"display channel: {state['error']}")
            last = state["last"]
            if (state["primary"] and last and time.monotonic() - start > settle and
                    time.monotonic() - last > 2.0):
                break
        else:
            raise screens.ScreenError(f"the picture did not settle in time: primary={state['primary'] is not None} last={state['last']}")
        fmt, w, h, stride, addr = state["primary"]
        if not addr:
            raise screens.ScreenError("no primary surface memory")
        raw = ctypes.string_at(addr, stride * h)
    finally:
        session.disconnect()
        for _ in range(50):
            ctx.iteration(False)
            time.sleep(0.01)
    rgb = bytearray(w * h * 3)
    for y in range(h):
        row = raw[y * stride:y * stride + w * 4]
        out = rgb[y * w * 3:(y + 1) * w * 3]
        out[0::3], out[1::3], out[2::3] = row[2::4], row[1::4], row[0::4]
        rgb[y * w * 3:(y + 1) * w * 3] = out
    return w, h, bytes(rgb)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo", required=True)
    ap.add_argument("--lib-dir", default=os.environ.get("RS_SPICE_LIB_DIR"))
    ap.add_argument("--streaming-video", default="all", choices=["off", "all", "filter"])
    ap.add_argument("--check-log", action=argparse.BooleanOptionalAction, default=True)
    a = ap.parse_args()
    name = f"demo_video_{a.streaming_video}"
    out = screens.tmpdir()
    dump = os.path.join(out, "dump.ppm")
    port = qemu_harness.free_ports(1)[0]
    env = dict(os.environ, LD_LIBRARY_PATH=a.lib_dir)
    proc = subprocess.Popen([a.demo, "--port", str(port), "--seconds", "60", "--tone", "0",
                             "--frames", str(FRAMES), "--fps", str(FPS), "--hold", "--video",
                             "--streaming-video", a.streaming_video, "--dump-primary", dump],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    shot = None
    try:
        deadline = time.monotonic() + 10
        while not qemu_harness.listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise screens.ScreenError(f"demo did not listen: {proc.stdout.read()}")
            time.sleep(0.02)
        qemu_harness.check_mapped_lib(proc.pid, a.lib_dir)
        shot = capture(port, 40)
        time.sleep(0.5)
    except (qemu_harness.HarnessError, screens.ScreenError, spice_probe.SpiceUnavailable, OSError) as e:
        print(f"{name}: FAIL: {e}")
        proc.kill()
        proc.communicate()
        return 1
    finally:
        if proc.poll() is None:
            proc.terminate()
    try:
        output, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        print(f"{name}: FAIL: demo did not stop")
        return 1
    streams = frames = 0
    for line in output.splitlines():
        m = STREAMS.search(line)
        if m:
            streams += int(m.group(1))
            frames += int(m.group(2))
    ref = screens.read_ppm(dump)
    diff = screens.differing_pixels(shot, ref)
    ok = proc.returncode == 0 and diff == 0
    if a.check_log:
        if a.streaming_video == "off":
            ok = ok and streams == 0 and frames == 0
        else:
            # The stream starts after 20 frames of detection; most of the
            # rest go out as stream frames.
            ok = ok and streams >= 1 and frames >= (FRAMES - 21) // 2
    print(json.dumps({"streaming_video": a.streaming_video, "size": [ref[0], ref[1]],
                      "differing_pixels": diff, "streams": streams, "stream_frames": frames,
                      "log_checked": a.check_log, "ok": ok}))
    print(f"interop.{name}:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
