#!/usr/bin/python3
"""A real spice-gtk client (SpiceClientGLib through GObject introspection).

What it proves: an unmodified spice-gtk 0.42 links to the server at
host:port (or tls-port) and each channel ends in the state we expect:
OPENED, or a precise error event (ERROR_AUTH, ERROR_LINK, ERROR_TLS,
ERROR_CONNECT, ERROR_IO). It records, per channel, every SpiceChannelEvent
seen and whether the socket went to the TLS port.

Use as a module:   result = spice_probe.probe(host, port, expect="connected")
or from the shell: spice_probe.py --port P --expect connected
The CLI prints one JSON line and exits 0 when the expectation holds, 1 when it
does not, 2 on timeout, 3 when gi / SpiceClientGLib is missing.

Outcome: "connected" when every --channels type OPENED (default: main); else
the first error event seen on a listed channel (ERROR_AUTH -> "auth-error",
ERROR_LINK -> "link-error", ERROR_TLS -> "tls-error", ERROR_CONNECT ->
"connect-error", ERROR_IO -> "io-error", CLOSED -> "closed"). Every channel the
server offers is linked and recorded, required or not. Once decided, the probe
waits (at most `settle` s) until every offered channel opened or failed and the
display channel got its first display-mark, then disconnects: the reference
0.15.1 segfaults in its display worker (~10% of TLS sessions, ~2% plain) when a
client drops right after display OPENED, before that mark.

The run is bounded: a GLib main loop with a timeout always ends it, and a
SIGALRM backstop ends the CLI even if the loop wedges.
"""
import argparse
import json
import signal
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True

EXIT_OK, EXIT_MISMATCH, EXIT_TIMEOUT, EXIT_MISSING = 0, 1, 2, 3

# expectation name -> the SpiceChannelEvent (nick) it means on a listed channel
ERROR_EXPECTATIONS = {
    "auth-error": "ERROR_AUTH",
    "link-error": "ERROR_LINK",
    "tls-error": "ERROR_TLS",
    "connect-error": "ERROR_CONNECT",
    "io-error": "ERROR_IO",
    "closed": "CLOSED",
}
EXPECTATIONS = ["connected"] + sorted(ERROR_EXPECTATIONS)
TERMINAL = {"OPENED", "CLOSED", "ERROR_AUTH", "ERROR_LINK", "ERROR_TLS",
            "ERROR_CONNECT", "ERROR_IO"}


class SpiceUnavailable(RuntimeError):
    """python3-gi or the SpiceClientGLib-2.0 typelib is not installed."""


def load_spice():
    """Return (GLib, GObject, SpiceClientGLib) or raise SpiceUnavailable."""
    try:
        import gi
        gi.require_version("SpiceClientGLib", "2.0")
        from gi.repository import GLib, GObject, SpiceClientGLib
    except (ImportError, ValueError) as exc:
        raise SpiceUnavailable(
            f"spice-gtk peer missing: {exc}. Install python3-gi and "
            "gir1.2-spiceclientglib-2.0 and run with /usr/bin/python3") from exc
    return GLib, GObject, SpiceClientGLib


def _event_name(event):
    nick = getattr(event, "value_nick", None)
    return nick.upper().replace("-", "_") if nick else str(int(event))


def _remote_port(channel):
    try:
        sock = channel.get_property("socket")
        return sock.get_remote_address().get_port() if sock else None
    except Exception:  # socket already gone
        return None


def _settled(rec):
    """A channel failed, or opened (and, for display, got its first mark)."""
    events = set(rec["events"])
    if events - {"OPENED"}:
        return True
    return "OPENED" in events and rec.get("mark") is not False


class _Probe:
    """State of one run: the session, the channels seen, the loop."""

    def __init__(self, modules, opts):
        self.glib, self.gobject, self.spice = modules
        self.opts = opts
        self.channels = {}   # "type:id" -> record
        self.handlers = []   # (object, handler id) to disconnect at the end
        self.session_disconnected = False
        self.decided_at = self.settled_at = None
        self.loop = self.glib.MainLoop()
        self.timed_out = False

    def make_session(self):
        o, S = self.opts, self.spice
        session = S.Session()
        session.set_property("host", o["host"])
        if o.get("port"):
            session.set_property("port", str(o["port"]))
        if o.get("tls_port"):
            session.set_property("tls-port", str(o["tls_port"]))
        if o.get("password") is not None:
            session.set_property("password", o["password"])
        if o.get("ca_file"):
            session.set_property("ca-file", o["ca_file"])
        if o.get("host_subject"):
            session.set_property("cert-subject", o["host_subject"])
            session.set_property("verify", S.SessionVerify.SUBJECT)
        else:
            session.set_property("verify", S.SessionVerify.HOSTNAME)
        for prop in ("enable-audio", "enable-usbredir", "enable-smartcard"):
            session.set_property(prop, False)
        return session

    def on_channel_new(self, _session, channel):
        ctype = self.spice.Channel.type_to_string(channel.get_property("channel-type"))
        key = f"{ctype}:{channel.get_property('channel-id')}"
        self.channels[key] = {"type": ctype, "id": channel.get_property("channel-id"),
                              "events": [], "tls": None, "error": None}
        hid = self.gobject.Object.connect(channel, "channel-event", self.on_channel_event, key)
        self.handlers.append((channel, hid))
        if ctype == "display":   # fully up once the server sent its first mark
            self.channels[key]["mark"] = False
            hid = self.gobject.Object.connect(channel, "display-mark", self.on_mark, key)
            self.handlers.append((channel, hid))
        if ctype != "main":   # the session links main; the app links the rest
            channel.connect()

    def on_channel_event(self, channel, event, key):
        rec = self.channels[key]
        name = _event_name(event)
        rec["events"].append(name)
        if name == "OPENED":
            rport = _remote_port(channel)
            if rport is not None:
                rec["tls"] = bool(self.opts.get("tls_port")) and rport == int(self.opts["tls_port"])
        err = channel.get_error()
        if err is not None and name != "OPENED":
            rec["error"] = err.message
        self.check_done()

    def on_mark(self, _channel, mark, key):
        self.channels[key]["mark"] = bool(mark)
        self.check_done()

    def on_disconnected(self, _session):
        self.session_disconnected = True
        self.check_done()

    def check_done(self):
        """Quit once the outcome is decided and the other channels settled."""
        if self.decided_at is None and self.outcome() is not None:
            self.decided_at = time.monotonic()
        if self.decided_at is None:
            return
        outcome = self.outcome()
        if outcome != "connected":
            self.loop.quit()   # an error on a listed channel decides the run
            return
        if self.settled_at is None:
            settled = all(_settled(r) for r in self.channels.values())
            if (settled and len(self.channels) > 1) or \
                    time.monotonic() - self.decided_at >= self.opts["settle"]:
                self.settled_at = time.monotonic()
        if self.settled_at is not None and \
                time.monotonic() - self.settled_at >= self.opts["hold"]:
            self.loop.quit()

    def outcome(self):
        """'connected', an ERROR_EXPECTATIONS key, or None while undecided."""
        for ctype in self.opts["channels"]:   # the first listed channel with an error
            for rec in (r for r in self.channels.values() if r["type"] == ctype):
                for ev in rec["events"]:
                    if ev != "OPENED" and ev in TERMINAL:
                        return next(k for k, v in ERROR_EXPECTATIONS.items() if v == ev)
        firsts = [r for r in self.channels.values() if r["type"] == self.opts["channels"][0]]
        opened = {r["type"] for r in self.channels.values() if "OPENED" in r["events"]}
        if all(t in opened for t in self.opts["channels"]):
            return "connected"
        if self.session_disconnected and firsts:
            return "closed"
        return None

    def on_timeout(self):
        self.timed_out = True
        self.loop.quit()
        return False

    def on_tick(self):
        self.check_done()
        return True

    def run(self):
        session = self.make_session()
        connect = self.gobject.Object.connect  # Session/Channel.connect() mean "link"
        self.handlers.append((session, connect(session, "channel-new", self.on_channel_new)))
        self.handlers.append((session, connect(session, "disconnected", self.on_disconnected)))
        t_id = self.glib.timeout_add(int(self.opts["timeout"] * 1000), self.on_timeout)
        tick_id = self.glib.timeout_add(100, self.on_tick)
        start = time.monotonic()
        try:
            if not session.connect():
                self.session_disconnected = True
            else:
                self.loop.run()
        finally:
            self.glib.source_remove(tick_id)
            if not self.timed_out:
                self.glib.source_remove(t_id)
            for obj, hid in self.handlers:
                obj.handler_disconnect(hid)
            session.disconnect()
            self._drain(0.3)
        return time.monotonic() - start

    def _drain(self, seconds):
        """Let the sockets close cleanly; bounded."""
        ctx, end = self.glib.MainContext.default(), time.monotonic() + seconds
        while time.monotonic() < end and ctx.pending():
            ctx.iteration(False)


def probe(host="127.0.0.1", port=None, tls_port=None, ca_file=None, host_subject=None,
          password=None, timeout=10.0, channels=("main",), expect="connected", settle=1.5,
          hold=0.0):
    """Connect once with spice-gtk; return a result dict (see module doc).

    settle: after the outcome, how long at most to wait for the other offered
    channels to open; hold: then how long to stay connected before disconnecting.

    Keys: outcome, expect, ok, timed_out, elapsed_s, channels{ "main:0": {type, id,
    events[], tls, error} }. Raises SpiceUnavailable when the peer is missing.
    """
    if expect not in EXPECTATIONS:
        raise ValueError(f"unknown expectation {expect!r}; one of {EXPECTATIONS}")
    if not port and not tls_port:
        raise ValueError("need port or tls_port")
    modules = load_spice()
    opts = dict(host=host, port=port, tls_port=tls_port, ca_file=ca_file,
                host_subject=host_subject, password=password, timeout=timeout,
                channels=list(channels), settle=settle, hold=hold)
    p = _Probe(modules, opts)
    elapsed = p.run()
    outcome = p.outcome()
    return {"expect": expect, "outcome": outcome, "ok": outcome == expect,
            "timed_out": p.timed_out and outcome is None,
            "elapsed_s": round(elapsed, 3), "host": host, "port": port,
            "tls_port": tls_port, "channels": p.channels}


# SpiceLinkReply.error values (spice/enums.h)
LINK_ERRORS = ["OK", "ERROR", "INVALID_MAGIC", "INVALID_DATA", "VERSION_MISMATCH",
               "NEED_SECURED", "NEED_UNSECURED", "PERMISSION_DENIED", "BAD_CONNECTION_ID",
               "CHANNEL_NOT_AVAILABLE"]
CHANNEL_TYPES = {"main": 1, "display": 2, "inputs": 3, "cursor": 4}


def raw_link(host, port, channel="main", timeout=5.0):
    """Send a plain SpiceLinkMess and return the server's SpiceLinkReply error name.

    Independent of spice-gtk: pins what the server puts on the wire (e.g.
    NEED_SECURED), where spice-gtk only shows its reaction to it.
    """
    caps = struct.pack("<I", (1 << 1) | (1 << 3))   # AUTH_SPICE | MINI_HEADER
    mess = struct.pack("<IBBIII", 0, CHANNEL_TYPES[channel], 0, 1, 0, 18) + caps
    header = struct.pack("<4sIII", b"REDQ", 2, 2, len(mess))
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(header + mess)
        head = _recv_exact(sock, 16)
        magic, _major, _minor, size = struct.unpack("<4sIII", head)
        if magic != b"REDQ" or size < 4:
            raise ValueError(f"bad link reply header {head!r}")
        (error,) = struct.unpack("<I", _recv_exact(sock, 4))
    return LINK_ERRORS[error] if error < len(LINK_ERRORS) else str(error)


def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"server closed after {len(data)}/{n} bytes")
        data += chunk
    return data


def exit_code(result):
    """CLI exit code for a probe() result."""
    if result["ok"]:
        return EXIT_OK
    return EXIT_TIMEOUT if result["timed_out"] else EXIT_MISMATCH


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int)
    ap.add_argument("--tls-port", type=int)
    ap.add_argument("--ca-file")
    ap.add_argument("--host-subject", help='e.g. "CN=127.0.0.1" (subject verification)')
    ap.add_argument("--password")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--channels", default="main",
                    help="comma list that must all open for 'connected' (default main)")
    ap.add_argument("--expect", required=True, choices=EXPECTATIONS)
    args = ap.parse_args(argv)
    if not args.port and not args.tls_port:
        ap.error("need --port or --tls-port")
    return args


def main(argv=None):
    args = parse_args(argv)
    signal.alarm(int(args.timeout) + 15)   # backstop if the loop ever wedges
    try:
        result = probe(args.host, args.port, args.tls_port, args.ca_file, args.host_subject,
                       args.password, args.timeout, args.channels.split(","), args.expect)
    except SpiceUnavailable as exc:
        print(json.dumps({"ok": False, "error": str(exc)}))
        print(f"spice_probe: {exc}", file=sys.stderr)
        return EXIT_MISSING
    print(json.dumps(result, sort_keys=True))
    return exit_code(result)


if __name__ == "__main__":
    sys.exit(main())
