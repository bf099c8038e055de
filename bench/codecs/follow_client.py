#!/usr/bin/python3
"""A spice-gtk client that watches the screen for a while: run_codec_bench.py's
client for an animated desktop, where spicy-screenshot would leave after the
first picture. SpiceClientGLib (python3-gi, gir1.2-spiceclientglib-2.0; run
it with Debian's /usr/bin/python3) links the main and display channels of
127.0.0.1:PORT, keeps decoding whatever the server draws for SECONDS, then
disconnects. Exit 0 when the display channel delivered a primary surface and
at least one update and no channel failed, else 1 with a line on stderr.

Usage: follow_client.py --port P [--seconds 3]
"""
import argparse
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    try:
        import gi
        gi.require_version("SpiceClientGLib", "2.0")
        from gi.repository import GLib, GObject, SpiceClientGLib as Spice
    except (ImportError, ValueError) as e:
        print(f"follow_client: spice-gtk peer missing: {e}", file=sys.stderr)
        return 1
    session = Spice.Session()
    session.set_property("host", "127.0.0.1")
    session.set_property("port", str(a.port))
    for prop in ("enable-audio", "enable-usbredir", "enable-smartcard"):
        session.set_property(prop, False)
    state = {"primary": False, "updates": 0, "error": None, "leaving": False}

    def on_channel(_s, channel):
        ctype = Spice.Channel.type_to_string(channel.get_property("channel-type"))
        if ctype == "display":
            def on_primary(*_args):
                state["primary"] = True

            def on_invalidate(*_args):
                state["updates"] += 1

            def on_event(_ch, event):
                nick = getattr(event, "value_nick", str(int(event)))
                if not state["leaving"] and (nick.startswith("error") or nick == "closed"):
                    state["error"] = nick

            GObject.Object.connect(channel, "display-primary-create", on_primary)
            GObject.Object.connect(channel, "display-invalidate", on_invalidate)
            GObject.Object.connect(channel, "channel-event", on_event)
        if ctype in ("display",):  # the session links main; no cursor/inputs
            channel.connect()

    GObject.Object.connect(session, "channel-new", on_channel)
    if not session.connect():
        print("follow_client: spice-gtk did not start connecting", file=sys.stderr)
        return 1
    ctx = GLib.MainContext.default()
    end = time.monotonic() + a.seconds
    while time.monotonic() < end and not state["error"]:
        for _ in range(1000):  # drain what is ready, then sleep a little
            if not ctx.iteration(False):
                break
        time.sleep(0.002)
    state["leaving"] = True  # our disconnect closes the channels
    session.disconnect()
    for _ in range(50):
        ctx.iteration(False)
        time.sleep(0.01)
    if state["error"] or not state["primary"] or state["updates"] == 0:
        print(f"follow_client: display channel: error={state['error']} "
              f"primary={state['primary']} updates={state['updates']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
