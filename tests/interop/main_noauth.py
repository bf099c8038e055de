#!/usr/bin/python3
"""interop.main_noauth: with disable-ticketing=on, spice-gtk opens the main channel.

Also records the channels the server then offers (display, cursor, inputs)
and whether they open; only main is required.
"""
import sys

import interop_common as ic


def steps(q, args):
    yield ic.probe_step("main opens without a ticket", args.expect, port=q.port,
                        timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(ic.run("main_noauth", "connected", {}, steps))
