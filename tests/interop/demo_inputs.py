#!/usr/bin/python3
"""The demo's input acceptance: keys typed and clicks made by a real
spice-gtk client reach the demo's desktop, and what spicy-screenshot then
shows equals the demo's own rendering of its primary surface, pixel for pixel.

Steps, on one demo (--static: the screen changes only on input):
  1. screenshot before any input;
  2. a SpiceClientGLib session (main, display, inputs) types "hi" with
     InputsChannel.key_press/key_release; screenshot: must differ from 1
     (fails when keys are ignored);
  3. a second session waits for client mouse mode (which needs the primary
     surface, so the display's consent), moves the pointer with position()
     and clicks with button_press/button_release; screenshot: must differ
     from 2 (fails when clicks are ignored);
  4. the demo stops and dumps its primary: it must equal screenshot 3 exactly.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_harness  # noqa: E402  (free_ports, listening, check_mapped_lib)
import screens  # noqa: E402
import spice_probe  # noqa: E402  (load_spice, _event_name, TERMINAL)

SCANCODES_HI = (0x23, 0x17)  # PC set 1: 'h', 'i'
MOUSE_MODE_CLIENT = 2  # SPICE_MOUSE_MODE_CLIENT
BUTTON_LEFT = 1  # SPICE_MOUSE_BUTTON_LEFT


class InputError(RuntimeError):
    pass


class _Client:
    """One spice-gtk session: links main, display and inputs, then runs
    `actions` (a list of (delay_s, callable(inputs))) once everything is open
    (and, with need_client_mouse, once the main channel is in client mode)."""

    def __init__(self, port, actions, need_client_mouse, timeout):
        self.glib, self.gobject, self.spice = spice_probe.load_spice()
        self.port, self.actions = port, list(actions)
        self.need_client_mouse, self.timeout = need_client_mouse, timeout
        self.loop = self.glib.MainLoop()
        self.handlers, self.opened, self.errors = [], set(), []
        self.main = self.inputs = None
        self.mode_requested = False
        self.started = None
        self.done = False
        self.timed_out = False

    def on_channel_new(self, _session, channel):
        ctype = self.spice.Channel.type_to_string(channel.get_property("channel-type"))
        if ctype not in ("main", "display", "inputs"):
            return
        hid = self.gobject.Object.connect(channel, "channel-event", self.on_event, ctype)
        self.handlers.append((channel, hid))
        if ctype == "main":
            self.main = channel
        else:
            if ctype == "inputs":
                self.inputs = channel
            channel.connect()

    def on_event(self, _channel, event, ctype):
        name = spice_probe._event_name(event)
        if name == "OPENED":
            self.opened.add(ctype)
        elif name in spice_probe.TERMINAL:
            self.errors.append(f"{ctype}: {name}")
            self.loop.quit()

    def mouse_mode(self):
        return self.main.get_property("mouse-mode") if self.main is not None else None

    def on_tick(self):
        now = time.monotonic()
        if self.started is None:
            if not {"main", "display", "inputs"} <= self.opened:
                return True
            if self.need_client_mouse and self.mouse_mode() != MOUSE_MODE_CLIENT:
                if not self.mode_requested:
                    self.main.request_mouse_mode(MOUSE_MODE_CLIENT)
                    self.mode_requested = True
                return True
            self.started, self.next_at = now, now
        while self.actions and self.next_at <= now:
            delay, act = self.actions.pop(0)
            act(self.inputs)
            self.next_at = now + delay
        if not self.actions and now >= self.next_at:
            self.done = True
            self.loop.quit()
        return True

    def on_timeout(self):
        self.timed_out = True
        self.loop.quit()
        return False

    def run(self):
        session = self.spice.Session()
        session.set_property("host", "127.0.0.1")
        session.set_property("port", str(self.port))
        for prop in ("enable-audio", "enable-usbredir", "enable-smartcard"):
            session.set_property(prop, False)
        self.handlers.append(
            (session, self.gobject.Object.connect(session, "channel-new", self.on_channel_new)))
        t_id = self.glib.timeout_add(int(self.timeout * 1000), self.on_timeout)
        tick_id = self.glib.timeout_add(20, self.on_tick)
        try:
            if session.connect():
                self.loop.run()
        finally:
            self.glib.source_remove(tick_id)
            if not self.timed_out:
                self.glib.source_remove(t_id)
            for obj, hid in self.handlers:
                obj.handler_disconnect(hid)
            session.disconnect()
            ctx, end = self.glib.MainContext.default(), time.monotonic() + 0.3
            while time.monotonic() < end and ctx.pending():
                ctx.iteration(False)
        if not self.done:
            why = "timed out" if self.timed_out else "ended early"
            raise InputError(f"client {why}: opened={sorted(self.opened)} errors={self.errors} "
                             f"mouse_mode={self.mouse_mode()} (client mode is {MOUSE_MODE_CLIENT})")


def key_actions(scancodes):
    acts = []
    for code in scancodes:
        acts.append((0.05, lambda i, c=code: i.key_press(c)))
        acts.append((0.05, lambda i, c=code: i.key_release(c)))
    return acts + [(0.5, lambda i: None)]  # let the last events reach the demo


def click_actions(x, y):
    return [(0.1, lambda i: i.position(x, y, 0, 0)),
            (0.05, lambda i: i.button_press(BUTTON_LEFT, 0)),
            (0.05, lambda i: i.button_release(BUTTON_LEFT, 0)),
            (0.5, lambda i: None)]


def run(demo, lib_dir, out_dir):
    dump = os.path.join(out_dir, "dump.ppm")
    proc, port = screens.start_demo(demo, lib_dir,
                                    ["--static", "--seconds", "60", "--dump-primary", dump])
    try:
        before = screens.screenshot(port, out_dir, "before")
        _Client(port, key_actions(SCANCODES_HI), False, 20).run()
        typed = screens.screenshot(port, out_dir, "typed")
        w, h = before[0], before[1]
        _Client(port, click_actions(w * 3 // 4, h * 3 // 4), True, 20).run()
        clicked = screens.screenshot(port, out_dir, "clicked")
    finally:
        proc.terminate()  # the demo writes its dump on the way out
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise screens.ScreenError("demo did not stop")
    if proc.returncode != 0:
        raise screens.ScreenError(f"demo exited with {proc.returncode}: {proc.stdout.read()[-800:]}")
    return before, typed, clicked, screens.read_ppm(dump)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--demo", required=True)
    ap.add_argument("--lib-dir", default=os.environ.get("RS_SPICE_LIB_DIR"))
    a = ap.parse_args()
    out = screens.tmpdir()
    try:
        before, typed, clicked, dump = run(a.demo, a.lib_dir, out)
    except spice_probe.SpiceUnavailable as e:
        print(f"demo_inputs: FAIL: {e}")
        return 1
    except (qemu_harness.HarnessError, screens.ScreenError, InputError, OSError,
            subprocess.TimeoutExpired) as e:
        print(f"demo_inputs: FAIL: {e}")
        return 1
    by_keys = screens.differing_pixels(before, typed)
    by_click = screens.differing_pixels(typed, clicked)
    vs_dump = screens.differing_pixels(clicked, dump)
    ok = by_keys > 0 and by_click > 0 and vs_dump == 0
    print(json.dumps({"lib_dir": a.lib_dir, "out_dir": out, "size": [dump[0], dump[1]],
                      "pixels_changed_by_keys": by_keys, "pixels_changed_by_click": by_click,
                      "differing_pixels_vs_dump": vs_dump, "ok": ok}))
    if by_keys <= 0:
        print("demo_inputs: typed keys did not change the screen")
    if by_click <= 0:
        print("demo_inputs: the click did not change the screen")
    if vs_dump != 0:
        print("demo_inputs: the client's screen differs from the demo's own rendering")
    print("interop.demo_inputs:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
