#!/usr/bin/python3
"""interop.password_missing: no password (empty ticket) ends main with ERROR_AUTH."""
import sys

import interop_common as ic


def steps(q, args):
    yield ic.probe_step("no password -> ERROR_AUTH", args.expect, port=q.port,
                        timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(ic.run("password_missing", "auth-error", {"password": "secret"}, steps))
