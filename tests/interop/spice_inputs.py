#!/usr/bin/python3
"""A real spice-gtk client that types: main + inputs channels, then keys.

What it proves: an unmodified spice-gtk (SpiceClientGLib through GObject
introspection) links the main and inputs channels of the server at
host:port, and its SpiceInputsChannel key_press/key_release calls went out
once the inputs channel was OPENED. Whether the guest saw the keys is the
caller's check (`done`), e.g. SeaBIOS' debug console.

Module:  result = spice_inputs.type_keys(port=P, scancodes=[0x01], ready=f, done=g)

Only main and inputs are linked: other channels the server lists (display,
cursor, ...) are left alone, so the run does not depend on them.
The run is bounded: a GLib timeout always ends the loop.
"""
import sys
import time

sys.dont_write_bytecode = True

import spice_probe  # noqa: E402  (load_spice, _event_name)

TERMINAL = spice_probe.TERMINAL


class _Typist:
    """State of one run: the session, the inputs channel, the phases."""

    def __init__(self, modules, opts):
        self.glib, self.gobject, self.spice = modules
        self.opts = opts
        self.loop = self.glib.MainLoop()
        self.handlers = []
        self.inputs = None
        self.events = {"main": [], "inputs": []}
        self.t0 = time.monotonic()
        self.times = {}        # phase -> seconds since start
        self.keys_sent = []
        self.timed_out = False
        self.pending = []      # (due time, scancode, press) still to send

    def mark(self, phase):
        self.times.setdefault(phase, round(time.monotonic() - self.t0, 3))

    def on_channel_new(self, _session, channel):
        ctype = self.spice.Channel.type_to_string(channel.get_property("channel-type"))
        if ctype not in ("main", "inputs"):
            return
        hid = self.gobject.Object.connect(channel, "channel-event", self.on_event, ctype)
        self.handlers.append((channel, hid))
        if ctype == "inputs":
            self.inputs = channel
            channel.connect()   # SpiceChannel.connect: link it

    def on_event(self, _channel, event, ctype):
        name = spice_probe._event_name(event)
        self.events[ctype].append(name)
        if name == "OPENED":
            self.mark(f"{ctype}_opened")
        elif name in TERMINAL:
            self.mark(f"{ctype}_ended")
            self.loop.quit()   # a channel failed or closed: nothing more to do

    def on_tick(self):
        o, now = self.opts, time.monotonic()
        if "inputs_opened" in self.times and "ready" not in self.times and o["ready"]():
            self.mark("ready")
            if o["send"]:
                t = now
                for code in o["scancodes"]:
                    self.pending += [(t, code, True), (t + o["hold"], code, False)]
                    t += o["hold"] + 0.05
        while self.pending and self.pending[0][0] <= now:
            _due, code, press = self.pending.pop(0)
            if press:
                self.inputs.key_press(code)
            else:
                self.inputs.key_release(code)
            self.keys_sent.append({"scancode": code, "press": press,
                                   "t": round(now - self.t0, 3)})
            if not self.pending:
                self.mark("keys_sent")
        if "ready" in self.times and not self.pending and o["done"]():
            self.mark("done")
            self.loop.quit()
        return True

    def on_timeout(self):
        self.timed_out = True
        self.loop.quit()
        return False

    def run(self):
        o, S = self.opts, self.spice
        session = S.Session()
        session.set_property("host", o["host"])
        session.set_property("port", str(o["port"]))
        if o.get("password") is not None:
            session.set_property("password", o["password"])
        for prop in ("enable-audio", "enable-usbredir", "enable-smartcard"):
            session.set_property(prop, False)
        connect = self.gobject.Object.connect   # Session.connect() means "link"
        self.handlers.append((session, connect(session, "channel-new", self.on_channel_new)))
        t_id = self.glib.timeout_add(int(o["timeout"] * 1000), self.on_timeout)
        tick_id = self.glib.timeout_add(50, self.on_tick)
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


def type_keys(host="127.0.0.1", port=None, password=None, scancodes=(0x01,), ready=None,
              done=None, send=True, hold=0.1, timeout=30.0):
    """Link main + inputs, wait for ready(), press and release each scancode
    (spice-gtk's XT set-1 codes, 0x100 | code for 0xE0-prefixed keys), then
    wait for done(). ready/done are polled every 50 ms (default: always true).
    send=False does everything but the key calls (the negative control).

    Keys: ok (inputs opened, keys sent when asked, done() held), timed_out,
    times{phase: s}, keys_sent[], events{main, inputs}.
    """
    if not port:
        raise ValueError("need port")
    modules = spice_probe.load_spice()
    opts = dict(host=host, port=port, password=password, scancodes=list(scancodes),
                ready=ready or (lambda: True), done=done or (lambda: True), send=send,
                hold=hold, timeout=timeout)
    t = _Typist(modules, opts)
    t.run()
    ok = "inputs_opened" in t.times and "done" in t.times and (not send or "keys_sent" in t.times)
    return {"ok": ok, "timed_out": t.timed_out, "times": t.times, "keys_sent": t.keys_sent,
            "events": t.events, "elapsed_s": round(time.monotonic() - t.t0, 3)}
