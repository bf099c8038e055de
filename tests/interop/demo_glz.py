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
import json
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_harness  # noqa: E402
import screens  # noqa: E402

SCENARIOS = {
    "glz": (["--image-compression", "glz"], "GLZ_RGB"),
    "auto_glz": ([], "GLZ_RGB"),
    "zlib_glz": (["--image-compression", "glz", "--zlib-glz", "always"], "ZLIB_GLZ_RGB"),
}
FRAMES, FPS = 30, 10
SENT = re.compile(r"display 0 client \d+ images sent:(.*)$")


def capture(port, deadline_s):
    """Connect, follow the animation, return (w, h, rgb) of the client's primary."""
    return screens.follow_displays(port, deadline_s, FRAMES / FPS + 1.5, 1.0)[0]



def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo", required=True)
    ap.add_argument("--lib-dir", default=os.environ.get("RS_SPICE_LIB_DIR"))
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    a = ap.parse_args()
    args, expected = SCENARIOS[a.scenario]
    out = screens.tmpdir()
    dump = os.path.join(out, "dump.ppm")
    try:
        proc, port = screens.start_demo(
            a.demo, a.lib_dir, ["--seconds", "60", "--tone", "0", "--frames", str(FRAMES), "--fps",
                                str(FPS), "--hold", "--dump-primary", dump] + args)
    except (qemu_harness.HarnessError, screens.ScreenError, OSError) as e:
        print(f"demo_glz {a.scenario}: FAIL: {e}")
        return 1
    try:
        shot, output = screens.capture_then_stop(proc, lambda: capture(port, 40))
    except screens.ScreenError as e:
        print(f"demo_glz {a.scenario}: FAIL: {e}")
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
