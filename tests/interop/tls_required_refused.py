#!/usr/bin/python3
"""interop.tls_required_refused: tls-channel=main refuses main on the plain port.

QEMU has port + tls-port + tls-channel=main. Steps:
1. a raw SpiceLinkMess for main on the plain port gets SpiceLinkReply error
   NEED_SECURED (the wire fact);
2. spice-gtk given only the plain port: it switches to TLS on NEED_SECURED,
   has no tls-port, and reports SPICE_CHANNEL_EVENT_ERROR_CONNECT on main;
3. control: given the tls-port and the CA too, main opens over TLS.
"""
import sys

import interop_common as ic
import spice_probe


def steps(q, args):
    try:
        reply = spice_probe.raw_link("127.0.0.1", q.port, "main")
    except (OSError, ValueError) as exc:
        reply = f"{type(exc).__name__}: {exc}"
    yield "raw link on plain port -> NEED_SECURED", reply == "NEED_SECURED", {"reply": reply}
    yield ic.probe_step("spice-gtk, plain port only", args.expect, port=q.port,
                        timeout=args.timeout)
    label, ok, res = ic.probe_step("control: plain + tls port", "connected", port=q.port,
                                   tls_port=q.tls_port, ca_file=q.ca_file,
                                   timeout=args.timeout)
    yield label, ok and res["channels"]["main:0"]["tls"] is True, res


if __name__ == "__main__":
    sys.exit(ic.run("tls_required_refused", "connect-error",
                    {"tls": True, "plain": True, "tls_channels": ["main"]}, steps))
