"""Screenshots through the real client (spicy-screenshot) and their comparison.

What it proves: nothing by itself; display tests use it to capture what a
spice-gtk client shows and to compare two captures pixel for pixel.
"""
import os
import shutil
import subprocess
import tempfile
import time


class ScreenError(RuntimeError):
    pass


def read_ppm(path):
    """(width, height, rgb bytes) of a binary PPM (P6, maxval 255)."""
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6" or fields[3] != b"255":
        raise ScreenError(f"{path}: not a P6/255 PPM")
    w, h = int(fields[1]), int(fields[2])
    pixels = data[pos + 1:pos + 1 + w * h * 3]
    if len(pixels) != w * h * 3:
        raise ScreenError(f"{path}: truncated PPM")
    return w, h, pixels


def differing_pixels(a, b):
    """Pixels that differ between two (w, h, rgb) images; -1 if sizes differ."""
    if a[0] != b[0] or a[1] != b[1]:
        return -1
    pa, pb = a[2], b[2]
    return sum(1 for i in range(0, len(pa), 3) if pa[i:i + 3] != pb[i:i + 3])


def distinct_colours(img):
    px = img[2]
    return len({px[i:i + 3] for i in range(0, len(px), 3)})


def screenshot(port, out_dir, name, timeout=20.0, password=None):
    """Capture what spicy-screenshot shows on 127.0.0.1:port; returns the image."""
    tool = shutil.which("spicy-screenshot")
    if not tool:
        raise ScreenError("spicy-screenshot not found (install spice-client-gtk)")
    path = os.path.join(out_dir, f"{name}.ppm")
    cmd = [tool, "-h", "127.0.0.1", "-p", str(port), "-o", path]
    if password:
        cmd += ["-w", password]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0 or not os.path.exists(path):
        raise ScreenError(f"spicy-screenshot failed ({r.returncode}): {r.stderr.strip()[-400:]}")
    return read_ppm(path)


def screenshots(port, n, gap_s, out_dir, name):
    """n captures, gap_s apart (a blinking text cursor has two phases)."""
    shots = []
    for i in range(n):
        shots.append(screenshot(port, out_dir, f"{name}-{i}"))
        time.sleep(gap_s)
    return shots


def tmpdir():
    return tempfile.mkdtemp(prefix="rs-screens-")


def start_demo(demo, lib_dir, args, listen_timeout=10.0):
    """Starts `demo` (ringspice-demo) with LD_LIBRARY_PATH=lib_dir on a free
    port plus `args`, waits until it listens and checks that it mapped that
    directory's library. Returns (process, port); the process's stdout and
    stderr are one text pipe. Raises ScreenError (or the harness's error),
    with the demo killed, when it does not come up."""
    import qemu_harness  # here: qemu_harness does not need this module

    port = qemu_harness.free_ports(1)[0]
    env = dict(os.environ, LD_LIBRARY_PATH=lib_dir)
    proc = subprocess.Popen([demo, "--port", str(port)] + list(args), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + listen_timeout
        while not qemu_harness.listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ScreenError(f"demo did not listen: {proc.stdout.read()}")
            time.sleep(0.02)
        qemu_harness.check_mapped_lib(proc.pid, lib_dir)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        raise
    return proc, port


def primary_rgb(raw, width, height, stride):
    """A client's primary surface memory (xRGB rows, `stride` bytes apart)
    as packed RGB bytes, the layout read_ppm returns."""
    rgb = bytearray(width * height * 3)
    for y in range(height):
        row = raw[y * stride:y * stride + width * 4]
        out = rgb[y * width * 3:(y + 1) * width * 3]
        out[0::3], out[1::3], out[2::3] = row[2::4], row[1::4], row[0::4]
        rgb[y * width * 3:(y + 1) * width * 3] = out
    return bytes(rgb)


def follow_displays(port, deadline_s, settle_s, quiet_s, displays=1):
    """Connects a SpiceClientGLib session to 127.0.0.1:port (no audio, usbredir
    or smartcard), follows the animation until `displays` display channels
    have a primary, `settle_s` passed and no update came for `quiet_s`, and
    returns {channel id: (w, h, rgb)} of the client's own primary surfaces.
    Raises ScreenError on a channel error or when nothing settles within
    `deadline_s`."""
    import ctypes
    import spice_probe

    GLib, GObject, Spice = spice_probe.load_spice()
    session = Spice.Session()
    session.set_property("host", "127.0.0.1")
    session.set_property("port", str(port))
    for prop in ("enable-audio", "enable-usbredir", "enable-smartcard"):
        session.set_property(prop, False)
    state = {"primary": {}, "last": None, "error": None}

    def on_channel(_s, channel):
        ctype = Spice.Channel.type_to_string(channel.get_property("channel-type"))
        cid = channel.get_property("channel-id")
        if ctype == "display":
            def on_primary(_ch, fmt, width, height, stride, _shmid, imgdata):
                state["primary"][cid] = (fmt, width, height, stride, imgdata)

            def on_invalidate(_ch, *_args):
                state["last"] = time.monotonic()

            def on_event(_ch, event):
                name = spice_probe._event_name(event)
                if name.startswith("ERROR") or name == "CLOSED":
                    state["error"] = f"display {cid}: {name}"

            GObject.Object.connect(channel, "display-primary-create", on_primary)
            GObject.Object.connect(channel, "display-invalidate", on_invalidate)
            GObject.Object.connect(channel, "channel-event", on_event)
        if ctype != "main":  # the session links main; the application the rest
            channel.connect()

    GObject.Object.connect(session, "channel-new", on_channel)
    if not session.connect():
        raise ScreenError("spice-gtk did not start connecting")
    ctx = GLib.MainContext.default()
    start = time.monotonic()
    shots = {}
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
                raise ScreenError(state["error"])
            last = state["last"]
            if (len(state["primary"]) >= displays and last and
                    time.monotonic() - start > settle_s and time.monotonic() - last > quiet_s):
                break
        else:
            raise ScreenError(f"the pictures did not settle in time: primaries of displays "
                              f"{sorted(state['primary'])} of {displays}, last update "
                              f"{state['last']}")
        for cid, (_fmt, w, h, stride, addr) in state["primary"].items():
            if not addr:
                raise ScreenError(f"display {cid}: no primary surface memory")
            shots[cid] = (w, h, primary_rgb(ctypes.string_at(addr, stride * h), w, h, stride))
    finally:
        session.disconnect()
        for _ in range(50):
            ctx.iteration(False)
            time.sleep(0.01)
    return shots


def capture_then_stop(proc, capture, stop_timeout=15.0):
    """Runs capture() while the demo `proc` (from start_demo) serves, then
    stops it (SIGTERM: it writes its dumps and end-of-channel log on the way
    out) and returns (what capture returned, the demo's output). On any
    failure the demo is killed and ScreenError raised."""
    import qemu_harness
    import spice_probe

    try:
        result = capture()
        time.sleep(0.5)  # the display client's end (and its log line) follows the disconnect
    except (qemu_harness.HarnessError, ScreenError, spice_probe.SpiceUnavailable, OSError) as e:
        proc.kill()
        proc.communicate()
        raise ScreenError(str(e)) from e
    finally:
        if proc.poll() is None:
            proc.terminate()
    try:
        output, _ = proc.communicate(timeout=stop_timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise ScreenError("demo did not stop")
    return result, output
