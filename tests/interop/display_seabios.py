"""QEMU 7.2 with -vga qxl shows, through ringspice, exactly the SeaBIOS screen
it shows through the reference library: spicy-screenshot captures of the
final firmware screen are equal pixel for pixel, with QEMU's default
image-compression and with image-compression=off.

The text cursor blinks, so each library is captured a few times and the
test passes when some capture of ours equals some capture of the reference.
A blank or one-colour screen fails: equality must be about real content.
"""
import argparse
import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_harness  # noqa: E402
import screens  # noqa: E402

REFERENCE = "/lib/x86_64-linux-gnu"
SETTLE_S = 8.0   # SeaBIOS reaches "No bootable device." in ~3 s under TCG
SHOTS = 3


def capture(lib_dir, extra_spice, out_dir, name):
    with qemu_harness.QemuSpice(lib_dir=lib_dir, extra_spice=extra_spice) as q:
        time.sleep(SETTLE_S)
        shots = screens.screenshots(q.port, SHOTS, 0.35, out_dir, name)
        if q.proc.poll() is not None:
            raise qemu_harness.HarnessError(f"QEMU died: {q.log_tail()}")
        return shots


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lib-dir", default=os.environ.get("RS_SPICE_LIB_DIR"))
    ap.add_argument("--image-compression", default=None,
                    help="QEMU's -spice image-compression= value (default: QEMU's default)")
    a = ap.parse_args()
    extra = [f"image-compression={a.image_compression}"] if a.image_compression else []
    out = screens.tmpdir()
    try:
        ours = capture(a.lib_dir, extra, out, "ours")
        ref = capture(REFERENCE, extra, out, "reference")
    except (qemu_harness.HarnessError, screens.ScreenError) as e:
        print(f"display_seabios: FAIL: {e}")
        return 1
    colours = min(screens.distinct_colours(s) for s in ours + ref)
    best = min(screens.differing_pixels(o, r) % (1 << 30) for o in ours for r in ref)
    ok = best == 0 and colours >= 2
    print(json.dumps({"image_compression": a.image_compression or "default",
                      "size": [ours[0][0], ours[0][1]], "min_distinct_colours": colours,
                      "fewest_differing_pixels": best, "ok": ok, "captures": out}))
    print("interop.display_seabios:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
