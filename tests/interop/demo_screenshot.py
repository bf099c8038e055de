"""The demo's desktop, as spicy-screenshot shows it, equals the demo's own
rendering of its primary surface, pixel for pixel — on ringspice and on the
reference library (the demo drives both through the public <spice.h> API).
"""
import argparse
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_harness  # noqa: E402  (free_ports, listening, check_mapped_lib)
import screens  # noqa: E402


def run(demo, lib_dir, out_dir):
    dump = os.path.join(out_dir, f"dump-{os.path.basename(lib_dir.rstrip('/'))}.ppm")
    proc, port = screens.start_demo(demo, lib_dir, ["--static", "--seconds", "30", "--dump-primary", dump])
    try:
        shot = screens.screenshot(port, out_dir, f"shot-{os.path.basename(lib_dir.rstrip('/'))}")
    finally:
        proc.terminate()  # the demo writes its dump on the way out
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise screens.ScreenError("demo did not stop")
    if proc.returncode != 0:
        raise screens.ScreenError(f"demo exited with {proc.returncode}")
    return shot, screens.read_ppm(dump)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--demo", required=True)
    ap.add_argument("--lib-dir", default=os.environ.get("RS_SPICE_LIB_DIR"))
    a = ap.parse_args()
    out = screens.tmpdir()
    try:
        shot, dump = run(a.demo, a.lib_dir, out)
    except (qemu_harness.HarnessError, screens.ScreenError, OSError) as e:
        print(f"demo_screenshot: FAIL: {e}")
        return 1
    diff = screens.differing_pixels(shot, dump)
    colours = screens.distinct_colours(dump)
    ok = diff == 0 and colours > 8
    print(json.dumps({"lib_dir": a.lib_dir, "size": [dump[0], dump[1]], "differing_pixels": diff,
                      "distinct_colours": colours, "ok": ok}))
    print("interop.demo_screenshot:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
