#!/usr/bin/python3
"""interop.password_ok: QEMU with password-secret; the right password opens main."""
import sys

import interop_common as ic

PASSWORD = "secret"


def steps(q, args):
    yield ic.probe_step("right password opens main", args.expect, port=q.port,
                        password=PASSWORD, timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(ic.run("password_ok", "connected", {"password": PASSWORD}, steps))
