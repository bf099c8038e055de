#!/usr/bin/python3
"""interop.html5_seabios: spice-html5 in headless chromium, over WebSocket.

QEMU 7.2 runs our libspice-server.so.1 with a password and SeaBIOS' boot menu
(-boot menu=on,splash-time=15000, debug console in a file). Steps:
  1. spicy-screenshot captures the SeaBIOS screen while it waits for ESC;
  2. Debian's spice_auto.html (/usr/share/spice-html5, served by html5_http.py
     on 127.0.0.1) in chromium --headless connects with the right password
     over ws:// to the plain SPICE port: its primary canvas equals step 1's
     capture (a few pixels allowed for the blinking text cursor);
  3. the page types ESC into its canvas: SeaBIOS prints "Select boot device";
  4. a second page with a wrong password is refused: spice-html5 reports
     "Permission denied." (it asks for another password) and shows no canvas.
What it proves: the upgrade and framing work for a real browser, every
channel spice-html5 opens links with ticket auth, display and inputs work.
Exit 0 when every step held, 1 otherwise (a missing peer is a failure).
"""
import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compare_ppm  # noqa: E402
import html5_http  # noqa: E402
import qemu_harness  # noqa: E402

PASSWORD = "html5-secret"
PROMPT = b"Press ESC for boot menu"
MENU = b"Select boot device"
DEADLINE_S = 110   # below the ctest TIMEOUT, so QEMU and chromium die in a finally
MAX_DIFF = 400     # the text cursor blinks between the two captures
MATCH_S = 20       # how long the canvas may take to catch up with spicy's capture
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]


class Missing(Exception):
    pass


class BootMenuQemu(qemu_harness.QemuSpice):
    bios_log = None

    def command(self):
        self.bios_log = os.path.join(self.tmp, "bios.log")
        return super().command() + [
            "-boot", "menu=on,splash-time=15000",
            "-chardev", f"file,id=seabios,path={self.bios_log}",
            "-device", "isa-debugcon,iobase=0x402,chardev=seabios",
            # A sound card, so that spice-html5 also opens the playback channel.
            "-audiodev", "spice,id=snd0", "-device", "intel-hda",
            "-device", "hda-duplex,audiodev=snd0"]

    def bios_text(self):
        try:
            with open(self.bios_log, "rb") as f:
                return f.read()
        except OSError:
            return b""


def chromium():
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    raise Missing("chromium not found (scripts/deps.sh --test installs Debian's chromium)")


def decode_png(data):
    """(width, height, RGB bytes) of an 8-bit RGBA or RGB PNG (what canvas.toDataURL makes)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype = body[0:4], body[4:8], body[8], body[9]
            w, h = int.from_bytes(w, "big"), int.from_bytes(h, "big")
            if depth != 8 or ctype not in (2, 6) or body[12] != 0:
                raise ValueError(f"unsupported PNG depth {depth} type {ctype}")
            bpp = 4 if ctype == 6 else 3
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = w * bpp
    out, prev = bytearray(), bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        for x in range(w):
            out += line[x * bpp:x * bpp + 3]
    return w, h, bytes(out)


class Browser:
    """chromium --headless --dump-dom on a wrap.html URL, in its own profile."""

    def __init__(self, url, tmp):
        self.profile = tempfile.mkdtemp(prefix="rs-chromium-", dir=tmp)
        self.proc = subprocess.Popen(
            [chromium()] + CHROMIUM_FLAGS + [f"--user-data-dir={self.profile}", "--dump-dom", url],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.wait(10)   # the page loads once the test says done
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def _deadline(_signum, _frame):
    raise TimeoutError(f"scenario exceeded {DEADLINE_S}s")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib-dir", default=os.environ.get("RS_SPICE_LIB_DIR"))
    ap.add_argument("--keep", help="directory for the canvas PNG and spicy's PPM on a mismatch")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    ok, failure = True, None
    signal.signal(signal.SIGALRM, _deadline)
    signal.alarm(DEADLINE_S)

    def step(label, held, details):
        nonlocal ok, failure
        print(json.dumps({"step": label, "ok": held, "details": details}, sort_keys=True),
              flush=True)
        if not held:
            ok, failure = False, failure or label
        return held

    tmp = tempfile.mkdtemp(prefix="rs-html5-")
    browsers = []
    try:
        chromium()   # a missing browser or page fails here, before QEMU starts
        if not os.path.exists(os.path.join(html5_http.HTML5_ROOT, "spice_auto.html")):
            raise Missing(f"{html5_http.HTML5_ROOT}/spice_auto.html not found "
                          "(scripts/deps.sh --test installs spice-html5)")
        with html5_http.Html5Server() as web, \
                BootMenuQemu(lib_dir=args.lib_dir, password=PASSWORD) as q:
            print(json.dumps({"scenario": "html5_seabios", "qemu": q.describe(),
                              "http_port": web.port}), flush=True)
            deadline = time.monotonic() + 40
            while PROMPT not in q.bios_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            if not step("SeaBIOS waits for ESC", PROMPT in q.bios_text(),
                        q.bios_text()[-200:].decode(errors="replace")):
                raise Missing("no boot menu prompt")
            time.sleep(1.0)   # the prompt reaches the screen after the debug port
            shot = os.path.join(tmp, "spicy.ppm")
            r = subprocess.run(["spicy-screenshot", "-h", "127.0.0.1", "-p", str(q.port),
                                "-w", PASSWORD, "-o", shot], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=20)
            if not step("spicy-screenshot", r.returncode == 0 and os.path.exists(shot),
                        r.stderr[-300:]):
                raise Missing("no reference capture")
            reference = compare_ppm.read_ppm(shot)

            query = f"host=127.0.0.1&port={q.port}&password={PASSWORD}&path="
            browsers.append(Browser(f"http://127.0.0.1:{web.port}/wrap.html?{query}", tmp))
            canvas = web.wait_report("canvas", 25)
            status = None
            if canvas is None:
                web.cmd("status")
                status = web.wait_report("status", 5)
            if step("page shows a canvas", canvas is not None,
                    None if canvas else {"page": status, "qemu": q.log_tail(1500)}):
                # The browser may still be drawing (the two cores are shared):
                # ask for the canvas again until it matches or time is up.
                deadline, tries = time.monotonic() + MATCH_S, 1
                while True:
                    png = base64.b64decode(canvas["png"].split(",", 1)[1])
                    img = decode_png(png)
                    count, first, box = (compare_ppm.compare(reference, img)
                                         if img[:2] == reference[:2] else (-1, [], None))
                    if 0 <= count <= MAX_DIFF or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
                    web.cmd("canvas")
                    canvas = web.wait_report("canvas", 5) or canvas
                    tries += 1
                held = 0 <= count <= MAX_DIFF
                if not held and args.keep:
                    with open(os.path.join(args.keep, "canvas.png"), "wb") as f:
                        f.write(png)
                    shutil.copy(shot, os.path.join(args.keep, "spicy.ppm"))
                step("canvas equals spicy-screenshot", held,
                     {"canvas": img[:2], "spicy": reference[:2], "differing": count,
                      "first": first[:3], "box": box, "tries": tries})
            web.cmd("key")
            key = web.wait_report("key", 10)
            step("page typed ESC", bool(key and key.get("ok")), key)
            deadline = time.monotonic() + 15
            while MENU not in q.bios_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            step("ESC reached the guest (boot menu)", MENU in q.bios_text(),
                 q.bios_text()[-300:].decode(errors="replace"))
            # ringspice logs each channel it links (the reference does not):
            # the browser's session must have linked playback too.
            log = q.log_tail(20000)
            if "ringspice" in log:
                linked = sorted({line.split(": ")[1].split(" linked")[0]
                                 for line in log.splitlines() if " linked" in line and ": " in line})
                step("spice-html5 linked playback over WebSocket", "playback 0" in linked, linked)
            web.done()
            browsers[-1].stop()

            # A wrong password: refused, and spice-html5 says so.
            web2 = html5_http.Html5Server()
            with web2:
                query = f"host=127.0.0.1&port={q.port}&password=wrong-{PASSWORD}&path="
                browsers.append(Browser(f"http://127.0.0.1:{web2.port}/wrap.html?{query}", tmp))
                prompt = web2.wait_report("prompt", 25)
                web2.cmd("status")
                status = web2.wait_report("status", 5)
                step("wrong password refused", prompt is not None and status is not None
                     and not status.get("canvas"), {"prompt": prompt, "status": status})
                web2.done()
                browsers[-1].stop()
            time.sleep(0.3)
            if q.proc.poll() is not None:
                step("QEMU alive", False, q.log_tail())
            if not ok:
                print(json.dumps({"qemu_log": q.log_tail()}), flush=True)
    except (Missing, qemu_harness.HarnessError, RuntimeError, TimeoutError,
            subprocess.TimeoutExpired, ValueError) as exc:
        ok, failure = False, failure or f"{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
        for b in browsers:
            if b.proc.poll() is None:
                os.killpg(b.proc.pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {"scenario": "html5_seabios", "ok": ok,
               "elapsed_s": round(time.monotonic() - t0, 3)}
    if failure:
        summary["failed"] = failure
    print(json.dumps(summary), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
