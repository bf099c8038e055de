#!/usr/bin/python3
"""interop.inputs_boot_menu: ESC typed in spice-gtk opens SeaBIOS' boot menu.

QEMU 7.2 runs with -boot menu=on,splash-time=15000 and SeaBIOS' debug console
(isa-debugcon at 0x402) in a file. A spice-gtk client links main + inputs,
waits until SeaBIOS printed "Press ESC for boot menu", then sends ESC
(SpiceInputsChannel key_press/key_release, scancode 0x01). The test holds when
"Select boot device" appears in the debug log within the bound, and QEMU is
still alive afterwards. What it proves: the keystroke went spice-gtk -> inputs
channel -> SpiceKbdInterface.push_scan_freg -> the guest's PS/2 keyboard.

--no-key is the negative control: everything but the key calls; it must
exit 1 (SeaBIOS goes on booting once its 15 s wait is over).
Exit 0 when every step held, 1 otherwise (a missing peer is a failure).
"""
import argparse
import json
import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import qemu_harness  # noqa: E402
import spice_inputs  # noqa: E402
import spice_probe  # noqa: E402

PROMPT = b"Press ESC for boot menu"
MENU = b"Select boot device"
# SeaBIOS went past its menu wait: the key can no longer matter.
PAST_MENU = (b"Booting from", b"No bootable device", b"Boot failed")
ESC = 0x01
DEADLINE_S = 100   # below the ctest TIMEOUT (120 s), so QEMU is killed in a finally


class BootMenuQemu(qemu_harness.QemuSpice):
    """QemuSpice plus a boot menu and SeaBIOS' debug console in a file."""

    bios_log = None

    def command(self):
        self.bios_log = os.path.join(self.tmp, "bios.log")
        return super().command() + [
            "-boot", "menu=on,splash-time=15000",
            "-chardev", f"file,id=seabios,path={self.bios_log}",
            "-device", "isa-debugcon,iobase=0x402,chardev=seabios"]

    def bios_text(self):
        try:
            with open(self.bios_log, "rb") as f:
                return f.read()
        except OSError:
            return b""


def _deadline(_signum, _frame):
    raise TimeoutError(f"scenario exceeded {DEADLINE_S}s")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib-dir", default=os.environ.get("RS_SPICE_LIB_DIR"))
    ap.add_argument("--no-key", action="store_true", help="negative control: send no key")
    ap.add_argument("--timeout", type=float, default=60.0, help="for the spice-gtk client")
    args = ap.parse_args(argv)
    name = "inputs_boot_menu" + ("_no_key" if args.no_key else "")
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

    try:
        spice_probe.load_spice()
        with BootMenuQemu(lib_dir=args.lib_dir) as q:
            print(json.dumps({"scenario": name, "qemu": q.describe(),
                              "bios_log": q.bios_log}), flush=True)
            res = spice_inputs.type_keys(
                port=q.port, scancodes=[ESC], send=not args.no_key, timeout=args.timeout,
                ready=lambda: PROMPT in q.bios_text(),
                done=lambda: MENU in q.bios_text() or any(p in q.bios_text()
                                                          for p in PAST_MENU))
            bios = q.bios_text()
            step("main and inputs open", "inputs_opened" in res["times"]
                 and "main_opened" in res["times"], res)
            step("SeaBIOS waits for the menu key", PROMPT in bios, {"t": res["times"].get("ready")})
            if not args.no_key:
                step("ESC sent", "keys_sent" in res["times"], res["keys_sent"])
            step("SeaBIOS shows its boot menu", MENU in bios,
                 {"bios_log_tail": bios[-400:].decode("latin-1")})
            time.sleep(0.3)   # a server that dies on the client's disconnect fails too
            if q.proc.poll() is not None:
                ok, failure = False, failure or f"QEMU died (exit {q.proc.returncode})"
            if not ok:
                print(json.dumps({"qemu_exit": q.proc.poll(), "qemu_log": q.log_tail()}),
                      flush=True)
    except (qemu_harness.HarnessError, spice_probe.SpiceUnavailable, TimeoutError) as exc:
        ok, failure = False, f"{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
    summary = {"scenario": name, "ok": ok, "elapsed_s": round(time.monotonic() - t0, 3)}
    if failure:
        summary["failed"] = failure
    print(json.dumps(summary), flush=True)
    if not ok:
        print(f"interop.{name}: FAIL ({failure})", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
