"""GLZ (and ZLIB_GLZ) images drawn after the first picture decode exactly in
spice-gtk: a real client (SpiceClientGLib through python3-gi) connects to
the demo while it animates; the frames reach it as drawings compressed with
GLZ against the client's dictionary; once the demo holds still, the
client's own copy of the primary surface equals the demo's rendering pixel
for pixel, and the server's record shows GLZ was used.

(spicy-screenshot captures only the first picture, which goes LZ as in the
reference; this client reads its primary surface memory instead.)
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

SCENARIOS = {
    "glz": (["--image-compression", "glz"], "GLZ_RGB"),
    "auto_glz": ([], "GLZ_RGB"),
    "zlib_glz": (["--image-compression", "glz", "--zlib-glz", "always"], "ZLIB_GLZ_RGB"),
}
FRAMES, FPS = 30, 10
SENT = re.compile(r"display 0 client \d+ images sent:(.*)$")


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
    settle = FRAMES / FPS + 1.5
    try:
        while time.monotonic() - start < deadline_s:
            ctx.iteration(False)
            time.sleep(0.002)
            if state["error"]:
                raise screens.ScreenError(f"display channel: {state['error']}")
            last = state["last"]
            if (state["primary"] and last and time.monotonic() - start > settle and
                    time.monotonic() - last > 1.0):
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
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    a = ap.parse_args()
    args, expected = SCENARIOS[a.scenario]
    out = screens.tmpdir()
    dump = os.path.join(out, "dump.ppm")
    port = qemu_harness.free_ports(1)[0]
    env = dict(os.environ, LD_LIBRARY_PATH=a.lib_dir)
    proc = subprocess.Popen([a.demo, "--port", str(port), "--seconds", "60", "--tone", "0",
                             "--frames", str(FRAMES), "--fps", str(FPS), "--hold",
                             "--dump-primary", dump] + args,
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
        print(f"demo_glz {a.scenario}: FAIL: {e}")
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
        print(f"demo_glz {a.scenario}: FAIL: demo did not stop")
        return 1
    sent = {}
    for line in output.splitlines():
        m = SENT.search(line)
        if m:
            for item in m.group(1).split():
                k, _, v = item.partition("=")
                if v:
                    sent[k] = sent.get(k, 0) + int(v)
    ref = screens.read_ppm(dump)
    diff = screens.differing_pixels(shot, ref)
    ok = proc.returncode == 0 and diff == 0 and sent.get(expected, 0) > 0
    print(json.dumps({"scenario": a.scenario, "size": [ref[0], ref[1]], "differing_pixels": diff,
                      "images_sent": sent, "expected": expected, "ok": ok}))
    print(f"interop.demo_glz_{a.scenario}:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
