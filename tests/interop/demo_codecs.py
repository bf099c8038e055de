"""Every image codec ringspice encodes decodes in the real client: the demo's
desktop, compressed as one scenario asks, as spicy-screenshot shows it,
equals the demo's own rendering of its primary surface — pixel for pixel for
the lossless codecs, at PSNR >= 35 dB for JPEG — and the server's record of
the image types it put on the wire shows the codec really was used.

spicy-screenshot captures the first picture it is sent: the whole primary
surface as one image, compressed as the scenario's settings choose for it.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_harness  # noqa: E402  (free_ports, listening, check_mapped_lib)
import screens  # noqa: E402

# scenario -> (demo arguments, image types that must have been sent, PSNR floor or None for exact)
# For JPEG the floor applies to PHOTO_AREA, a part of the 1024x768 desktop
# that is background only (below the moving window, right of the log window,
# above the taskbar): JPEG is for photographs, and the text windows of the
# same picture only need to stay legible (OVERALL_FLOOR over everything).
SCENARIOS = {
    "off": (["--image-compression", "off"], {"BITMAP"}, None),
    # A whole-surface picture goes LZ under GLZ settings, as in the reference
    # (GLZ across later drawings: demo_glz.py).
    "auto_glz": ([], {"LZ_RGB"}, None),
    "auto_lz": (["--image-compression", "auto_lz"], {"LZ_RGB"}, None),
    "quic": (["--image-compression", "quic"], {"QUIC"}, None),
    "glz": (["--image-compression", "glz"], {"LZ_RGB"}, None),
    "lz": (["--image-compression", "lz"], {"LZ_RGB"}, None),
    "lz4": (["--image-compression", "lz4"], {"LZ4"}, None),
    "auto_glz_photo": (["--photo"], {"QUIC"}, None),
    "jpeg_photo": (["--photo", "--jpeg", "always"], {"JPEG"}, 35.0),
}

PHOTO_AREA = (480, 380, 1000, 730)
OVERALL_FLOOR = 28.0

SENT = re.compile(r"display 0 client \d+ images sent:(.*)$")


def psnr(a, b, area=None):
    """PSNR in dB of b against a over area (x0, y0, x1, y1), or the whole image."""
    if a[0] != b[0] or a[1] != b[1]:
        return -1.0
    w = a[0]
    x0, y0, x1, y1 = area if area else (0, 0, a[0], a[1])
    se, n = 0, 0
    for y in range(y0, y1):
        lo, hi = (y * w + x0) * 3, (y * w + x1) * 3
        se += sum((p - q) * (p - q) for p, q in zip(a[2][lo:hi], b[2][lo:hi]))
        n += hi - lo
    if se == 0:
        return float("inf")
    return 10 * math.log10(255 * 255 * n / se)


def run(demo, lib_dir, out_dir, args):
    dump = os.path.join(out_dir, "dump.ppm")
    proc, port = screens.start_demo(demo, lib_dir,
                                    ["--static", "--seconds", "30", "--dump-primary", dump] + args)
    try:
        shot = screens.screenshot(port, out_dir, "shot")
        time.sleep(0.5)  # the display client's end (and its log line) follows the disconnect
    finally:
        proc.terminate()  # the demo writes its dump on the way out
        try:
            output, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise screens.ScreenError("demo did not stop")
    if proc.returncode != 0:
        raise screens.ScreenError(f"demo exited with {proc.returncode}: {output[-2000:]}")
    sent = {}
    for line in output.splitlines():
        m = SENT.search(line)
        if m:
            for item in m.group(1).split():
                if "=" in item:
                    k, v = item.split("=", 1)
                    sent[k] = sent.get(k, 0) + int(v)
    return shot, screens.read_ppm(dump), sent


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo", required=True)
    ap.add_argument("--lib-dir", default=os.environ.get("RS_SPICE_LIB_DIR"))
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    a = ap.parse_args()
    args, expected, floor = SCENARIOS[a.scenario]
    out = screens.tmpdir()
    try:
        shot, dump, sent = run(a.demo, a.lib_dir, out, args)
    except (qemu_harness.HarnessError, screens.ScreenError, OSError) as e:
        print(f"demo_codecs {a.scenario}: FAIL: {e}")
        return 1
    diff = screens.differing_pixels(shot, dump)
    quality = psnr(shot, dump, PHOTO_AREA) if floor is not None else None
    overall = psnr(shot, dump) if floor is not None else None
    used = set(sent)
    ok = (expected <= used and screens.distinct_colours(dump) > 8 and
          (diff == 0 if floor is None else
           (quality >= floor and overall >= OVERALL_FLOOR and dump[0] == 1024 and dump[1] == 768)))
    print(json.dumps({"scenario": a.scenario, "size": [dump[0], dump[1]], "differing_pixels": diff,
                      "psnr_photo_db": None if quality is None else round(quality, 2),
                      "psnr_overall_db": None if overall is None else round(overall, 2),
                      "images_sent": sent, "expected": sorted(expected), "ok": ok}))
    print(f"interop.demo_codecs_{a.scenario}:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
