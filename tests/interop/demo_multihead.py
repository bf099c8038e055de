"""Two heads share one client's caches, and spice-gtk decodes both exactly.

A real client (SpiceClientGLib through python3-gi) connects to the demo
with two QXL devices (`--heads 2`) while both animate with GLZ. spice-gtk
keeps ONE pixmap cache and ONE GLZ window for all display channels of a
session and waits for an image another channel has not delivered yet, so a
server that refers to the wrong channel's entries, or to GLZ images the
client never got, stalls or corrupts the picture. Once the demo holds
still, each head's surface in the client equals the demo's rendering of
that head pixel for pixel.

With --check-log (ringspice; the reference logs nothing of the kind) the
server's end-of-channel lines must also show GLZ_RGB images on display 0
AND display 1 (one GLZ window for both: each head logs lines of its own),
and FROM_CACHE of an entry the other display channel added (the heads draw
identical windows, which the demo gives identical image ids).
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

HEADS = 2
FRAMES, FPS = 30, 10
SENT = re.compile(r"display (\d+) client \d+ images sent:(.*?) \| "
                  r"from another channel's cache entries: (\d+)")


def capture(port, deadline_s):
    """Connect, follow the animation; returns {channel id: (w, h, rgb)}."""
    return screens.follow_displays(port, deadline_s, FRAMES / FPS + 1.5, 1.0, HEADS)



def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo", required=True)
    ap.add_argument("--lib-dir", default=os.environ.get("RS_SPICE_LIB_DIR"))
    ap.add_argument("--check-log", dest="check_log", action="store_true", default=True)
    ap.add_argument("--no-check-log", dest="check_log", action="store_false")
    a = ap.parse_args()
    out = screens.tmpdir()
    dump = os.path.join(out, "dump.ppm")
    try:
        proc, port = screens.start_demo(
            a.demo, a.lib_dir,
            ["--seconds", "60", "--tone", "0", "--heads", str(HEADS), "--frames", str(FRAMES),
             "--fps", str(FPS), "--hold", "--image-compression", "glz", "--dump-primary", dump])
    except (qemu_harness.HarnessError, screens.ScreenError, OSError) as e:
        print(f"demo_multihead: FAIL: {e}")
        return 1
    try:
        shots, output = screens.capture_then_stop(proc, lambda: capture(port, 40))
    except screens.ScreenError as e:
        print(f"demo_multihead: FAIL: {e}")
        return 1
    sent = {}    # display id -> {image type: count}
    shared = {}  # display id -> FROM_CACHE of the other channel's entries
    for line in output.splitlines():
        m = SENT.search(line)
        if m:
            counts = sent.setdefault(int(m.group(1)), {})
            for item in m.group(2).split():
                k, _, v = item.partition("=")
                if v:
                    counts[k] = counts.get(k, 0) + int(v)
            shared[int(m.group(1))] = shared.get(int(m.group(1)), 0) + int(m.group(3))
    problems = []
    diffs = {}
    for k in range(HEADS):
        ref = screens.read_ppm(dump if k == 0 else dump[:-len(".ppm")] + f".{k}.ppm")
        if k not in shots:
            problems.append(f"display {k}: no picture")
            continue
        diffs[k] = screens.differing_pixels(shots[k], ref)
        if diffs[k] != 0:
            problems.append(f"display {k}: {diffs[k]} pixels differ from the demo's head {k}")
    if proc.returncode != 0:
        problems.append(f"demo exit code {proc.returncode}")
    if a.check_log:
        for k in range(HEADS):
            if sent.get(k, {}).get("GLZ_RGB", 0) == 0:
                problems.append(f"display {k} sent no GLZ_RGB image: {sent.get(k)}")
        if sum(shared.values()) == 0:
            problems.append(f"no FROM_CACHE of another display channel's entry: {shared}")
    ok = not problems
    print(json.dumps({"heads": HEADS, "differing_pixels": diffs, "images_sent": sent,
                      "shared_cache_hits": shared, "check_log": a.check_log,
                      "problems": problems, "ok": ok}))
    print("interop.demo_multihead:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
