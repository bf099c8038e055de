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
import json
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_harness  # noqa: E402
import screens  # noqa: E402

FRAMES, FPS = 75, 25
STREAMS = re.compile(r"display 0 client \d+ images sent:.*video streams: (\d+), frames: (\d+)")


def capture(port, deadline_s):
    """Connect, follow the animation, return (w, h, rgb) of the client's primary."""
    return screens.follow_displays(port, deadline_s, FRAMES / FPS + 2.0, 2.0)[0]



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
    try:
        proc, port = screens.start_demo(
            a.demo, a.lib_dir,
            ["--seconds", "60", "--tone", "0", "--frames", str(FRAMES), "--fps", str(FPS), "--hold",
             "--video", "--streaming-video", a.streaming_video, "--dump-primary", dump])
    except (qemu_harness.HarnessError, screens.ScreenError, OSError) as e:
        print(f"{name}: FAIL: {e}")
        return 1
    try:
        shot, output = screens.capture_then_stop(proc, lambda: capture(port, 40))
    except screens.ScreenError as e:
        print(f"{name}: FAIL: {e}")
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
