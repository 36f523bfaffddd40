#!/usr/bin/env python3
"""client.py - an example client: discovers a backend of a type through its node, connects to it over
TCP and exchanges a message

    client.py RESOURCE [TYPE] [MESSAGE]

RESOURCE as for service.py. Prints the backend's answer; exits 3 when there is no backend of that
type, 1 on another error.
"""
import socket
import sys

import dhtreg


def main(argv: list) -> int:
    if len(argv) < 2:
        print(f"usage: {argv[0]} RESOURCE [TYPE] [MESSAGE]", file=sys.stderr)
        return 2
    kind = argv[2] if len(argv) > 2 else "echo"
    message = argv[3] if len(argv) > 3 else "hello"
    try:
        with dhtreg.Client(timeout=10) as c:
            rid = c.resolve_name(argv[1])
            try:
                backend = c.discover(rid, kind)  # one at random: clients spread their load
            except dhtreg.NotFound:
                print(f"no {kind} backend")
                return 3
    except dhtreg.DhtregError as e:
        print(f"client: {e}", file=sys.stderr)
        return 1
    host, port = backend.host, backend.port
    if not host and backend.addresses:
        host, _, p = backend.addresses[0].rpartition(":")
        port = int(p)
    try:
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(message.encode() + b"\n")
            answer = s.makefile("r", encoding="utf-8", errors="replace").readline()
    except OSError as e:
        print(f"client: cannot reach {backend.service_id} at {host}:{port}: {e}", file=sys.stderr)
        return 1
    if not answer:
        print("client: no answer from the backend", file=sys.stderr)
        return 1
    print(answer, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
