#!/usr/bin/env python3
"""service.py - an example service: a TCP echo server that registers itself with its node through a
lease heartbeat, and withdraws on SIGTERM

    service.py RESOURCE SERVICE_ID PORT [TYPE]

RESOURCE is a resource id, LABEL@OWNER (a peer id, or an alias of a names file) or a bare LABEL
(a resource of this node). PORT 0 takes any free port. The node is found as the dhtreg CLI finds it
($DHTREG_SOCKET, $DHTREG_HOME/rpc.sock, ~/.dhtreg/rpc.sock); dhtreg.py must be importable (next to
this file, or on PYTHONPATH). Each line a client sends is answered "SERVICE_ID says: LINE".
"""
import logging
import signal
import socketserver
import sys
import threading

import dhtreg


def main(argv: list) -> int:
    if len(argv) < 4:
        print(f"usage: {argv[0]} RESOURCE SERVICE_ID PORT [TYPE]", file=sys.stderr)
        return 2
    name, service_id, port, kind = argv[1], argv[2], int(argv[3]), argv[4] if len(argv) > 4 else "echo"
    logging.basicConfig(level=logging.INFO, format="service: %(message)s")  # the heartbeat's retries
    try:
        with dhtreg.Client() as c:
            rid = c.resolve_name(name)
    except dhtreg.DhtregError as e:
        print(f"service: {e}", file=sys.stderr)
        return 1

    class Echo(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for line in self.rfile:
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                self.wfile.write(f"{service_id} says: {text}\n".encode())

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Echo)
    host, port = str(server.server_address[0]), int(server.server_address[1])

    # SIGTERM or Ctrl-C: serve_forever returns (shutdown must come from another thread)
    def on_signal(sig: int, frame: object) -> None:
        threading.Thread(target=server.shutdown).start()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # a lease: renewed every ttl/3 while this process runs, advertised again when the node
    # restarts; if this process dies without withdrawing, the record expires within 30 s
    heartbeat = dhtreg.Heartbeat(rid, service_id, host=host, port=port, type=kind, ttl=30)
    try:
        heartbeat.start()
    except dhtreg.DhtregError as e:
        print(f"service: {e}", file=sys.stderr)
        server.server_close()
        return 1
    print(f"service: advertised {service_id} on {host}:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        heartbeat.stop(withdraw=True)
        server.server_close()
    print("service: withdrawn", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
