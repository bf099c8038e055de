#!/usr/bin/python3
"""interop.html5_demo: the demo desktop served to spice-html5 over WebSocket.

The demo (tools/demo, --static, with a password) runs on our
libspice-server.so.1. Debian's spice-html5 in headless chromium connects over
ws:// to the plain SPICE port with the password; its primary canvas must equal
spicy-screenshot's capture and the demo's own rendering of its screen, pixel
for pixel (the static desktop does not change). Exit 0 when every step held,
1 otherwise (a missing peer is a failure).
"""
import argparse
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compare_ppm  # noqa: E402
import html5_http  # noqa: E402
import html5_seabios  # noqa: E402  (Browser, chromium, decode_png)
import qemu_harness  # noqa: E402  (free_ports, listening, check_mapped_lib)

PASSWORD = "demo-html5"
DEADLINE_S = 100
MATCH_S = 20


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo", required=True)
    ap.add_argument("--lib-dir", default=os.environ.get("RS_SPICE_LIB_DIR"))
    args = ap.parse_args(argv)
    signal.signal(signal.SIGALRM, html5_seabios._deadline)
    signal.alarm(DEADLINE_S)
    tmp = tempfile.mkdtemp(prefix="rs-html5-demo-")
    ok, failure, browser, demo = True, None, None, None

    def step(label, held, details):
        nonlocal ok, failure
        print(json.dumps({"step": label, "ok": held, "details": details}, sort_keys=True), flush=True)
        if not held:
            ok, failure = False, failure or label
        return held

    try:
        html5_seabios.chromium()
        if not os.path.exists(os.path.join(html5_http.HTML5_ROOT, "spice_auto.html")):
            raise html5_seabios.Missing("spice-html5 not installed (scripts/deps.sh --test)")
        port = qemu_harness.free_ports(1)[0]
        dump = os.path.join(tmp, "dump.ppm")
        env = dict(os.environ, LD_LIBRARY_PATH=args.lib_dir)
        demo = subprocess.Popen([args.demo, "--static", "--port", str(port), "--password", PASSWORD,
                                 "--seconds", "90", "--dump-primary", dump],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not qemu_harness.listening(port):
            if demo.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the demo did not listen")
            time.sleep(0.05)
        qemu_harness.check_mapped_lib(demo.pid, args.lib_dir)
        shot = os.path.join(tmp, "spicy.ppm")
        r = subprocess.run(["spicy-screenshot", "-h", "127.0.0.1", "-p", str(port), "-w", PASSWORD, "-o", shot],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
        if not step("spicy-screenshot", r.returncode == 0 and os.path.exists(shot), r.stderr[-300:]):
            raise RuntimeError("no reference capture")
        reference = compare_ppm.read_ppm(shot)
        with html5_http.Html5Server() as web:
            query = f"host=127.0.0.1&port={port}&password={PASSWORD}&path="
            browser = html5_seabios.Browser(f"http://127.0.0.1:{web.port}/wrap.html?{query}", tmp)
            canvas = web.wait_report("canvas", 25)
            if step("page shows a canvas", canvas is not None, None):
                deadline = time.monotonic() + MATCH_S
                while True:
                    img = html5_seabios.decode_png(base64.b64decode(canvas["png"].split(",", 1)[1]))
                    count = compare_ppm.compare(reference, img)[0] if img[:2] == reference[:2] else -1
                    if count == 0 or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
                    web.cmd("canvas")
                    canvas = web.wait_report("canvas", 5) or canvas
                step("canvas equals spicy-screenshot", count == 0,
                     {"canvas": img[:2], "spicy": reference[:2], "differing": count})
            web.done()
            browser.stop()
        demo.terminate()
        demo.wait(15)
        own = compare_ppm.read_ppm(dump)
        count = compare_ppm.compare(own, reference)[0] if own[:2] == reference[:2] else -1
        step("the demo's own rendering equals what the clients showed", count == 0, {"differing": count})
    except (html5_seabios.Missing, qemu_harness.HarnessError, RuntimeError, TimeoutError,
            subprocess.TimeoutExpired, ValueError, OSError) as exc:
        ok, failure = False, failure or f"{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
        if browser is not None and browser.proc.poll() is None:
            os.killpg(browser.proc.pid, signal.SIGKILL)
        if demo is not None and demo.poll() is None:
            demo.kill()
    print(json.dumps({"scenario": "html5_demo", "ok": ok, "failed": failure}), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
