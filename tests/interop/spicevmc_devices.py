#!/usr/bin/python3
"""interop.spicevmc_devices: QEMU with every spicevmc device, spice-gtk opens them all.

What it proves: QEMU 7.2 with a usbredir device (spicevmc chardev + usb-redir on
qemu-xhci), a named spiceport, the webdav spiceport, a vdagent port and a sound
card (-audiodev spice, intel-hda + hda-duplex) starts on the library under test;
an unmodified spice-gtk (SpiceClientGLib with audio and usbredir enabled) opens
main, display, inputs, cursor, playback, record, usbredir, port and webdav; the
port channels learn their names from PORT_INIT; and every channel stays open,
with no error or close event, for the hold time. QEMU must still run after.

Exit 0 when all of that holds, 1 otherwise (a missing peer included).
"""
import json
import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import interop_common as ic  # noqa: E402
import qemu_harness  # noqa: E402
import spice_probe  # noqa: E402

PORT_NAME = "org.qemu.test.0"
WEBDAV_NAME = "org.spice-space.webdav.0"
REQUIRED = ["main", "display", "inputs", "cursor", "playback", "record", "usbredir",
            "port", "webdav"]
HOLD_S = 4.0
DEADLINE_S = 100


class QemuWithDevices(qemu_harness.QemuSpice):
    """The harness's QEMU plus the char devices and the sound card."""

    def command(self):
        return super().command() + [
            "-device", "qemu-xhci,id=xhci",
            "-chardev", "spicevmc,name=usbredir,id=usbredir0",
            "-device", "usb-redir,chardev=usbredir0,bus=xhci.0",
            "-device", "virtio-serial",
            "-chardev", f"spiceport,name={PORT_NAME},id=p0",
            "-device", f"virtserialport,chardev=p0,name={PORT_NAME}",
            "-chardev", f"spiceport,name={WEBDAV_NAME},id=dav0",
            "-device", f"virtserialport,chardev=dav0,name={WEBDAV_NAME}",
            "-chardev", "spicevmc,name=vdagent,id=vda",
            "-device", "virtserialport,chardev=vda,name=com.redhat.spice.0",
            "-audiodev", "spice,id=a0",
            "-device", "intel-hda",
            "-device", "hda-duplex,audiodev=a0",
        ]


class DevicesProbe(spice_probe._Probe):
    """spice_probe's client with audio and usbredir on; remembers port names."""

    def __init__(self, modules, opts):
        super().__init__(modules, opts)
        self.objects = {}   # "type:id" -> channel, while the run lasts
        self.usb_manager = None

    def make_session(self):
        session = super().make_session()
        session.set_property("enable-audio", True)
        session.set_property("enable-usbredir", True)
        # As a viewer does: the USB device manager gives each usbredir
        # channel its usbredir host before the channel comes up.
        self.usb_manager = self.spice.UsbDeviceManager.get(session)
        return session

    def on_channel_new(self, session, channel):
        super().on_channel_new(session, channel)
        ctype = self.spice.Channel.type_to_string(channel.get_property("channel-type"))
        self.objects[f"{ctype}:{channel.get_property('channel-id')}"] = channel

    def check_done(self):
        for key, ch in self.objects.items():
            rec = self.channels.get(key)
            if rec is not None and rec["type"] in ("port", "webdav"):
                rec["port_name"] = ch.get_property("port-name")
        super().check_done()


def _deadline(_signum, _frame):
    raise TimeoutError(f"scenario exceeded {DEADLINE_S}s")


def check_channels(result):
    """(ok, why) for the channels one probe run saw."""
    chans = result["channels"].values()
    seen = {r["type"] for r in chans}
    missing = [t for t in REQUIRED if t not in seen]
    if missing:
        return False, f"not offered/created: {missing}"
    for r in chans:
        if r["events"] != ["OPENED"]:
            return False, f"{r['type']}:{r['id']} events {r['events']} ({r['error']})"
    names = {r["type"]: r.get("port_name") for r in chans if r["type"] in ("port", "webdav")}
    if names != {"port": PORT_NAME, "webdav": WEBDAV_NAME}:
        return False, f"port names {names}"
    return True, "all channels opened and stayed open"


def main(argv=None):
    args = ic.parse_args("spicevmc_devices", "connected", argv)
    t0 = time.monotonic()
    ok, failure = True, None
    signal.signal(signal.SIGALRM, _deadline)
    signal.alarm(DEADLINE_S)
    try:
        modules = spice_probe.load_spice()
        with QemuWithDevices(lib_dir=args.lib_dir) as q:
            print(json.dumps({"scenario": "spicevmc_devices", "qemu": q.describe()}), flush=True)
            opts = dict(host="127.0.0.1", port=q.port, tls_port=None, ca_file=None,
                        host_subject=None, password=None, timeout=args.timeout + HOLD_S + 10,
                        channels=REQUIRED, settle=5.0, hold=HOLD_S)
            p = DevicesProbe(modules, opts)
            elapsed = p.run()
            outcome = p.outcome()
            result = {"outcome": outcome, "elapsed_s": round(elapsed, 3),
                      "channels": p.channels}
            step_ok = outcome == args.expect
            why = f"outcome {outcome}"
            if step_ok and outcome == "connected":
                step_ok, why = check_channels(result)
            print(json.dumps({"step": "all channels open and stay open", "ok": step_ok,
                              "why": why, "details": result}, sort_keys=True), flush=True)
            if not step_ok:
                ok, failure = False, why
            time.sleep(0.3)
            if q.proc.poll() is not None:
                ok, failure = False, failure or f"QEMU died (exit {q.proc.returncode})"
            if not ok:
                print(json.dumps({"qemu_exit": q.proc.poll(), "qemu_log": q.log_tail()}),
                      flush=True)
    except (qemu_harness.HarnessError, spice_probe.SpiceUnavailable, TimeoutError) as exc:
        ok, failure = False, f"{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
    summary = {"scenario": "spicevmc_devices", "ok": ok,
               "elapsed_s": round(time.monotonic() - t0, 3)}
    if failure:
        summary["failed"] = failure
    print(json.dumps(summary), flush=True)
    if not ok:
        print(f"interop.spicevmc_devices: FAIL ({failure})", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
