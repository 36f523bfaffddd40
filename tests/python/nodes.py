"""nodes.py - real dhtregd processes for the Python tests: start one, wait until it answers, stop it.

The node binaries come from $DR_BIN_DIR (ctest sets it), else build/bin. Every wait is a
bounded poll of a condition, never a guessed sleep. A sanitizer report in a node's log
(the ASan build) fails the test that stopped it.
"""
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, List, Optional

import dhtreg

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("DR_BIN_DIR") or ROOT / "build" / "bin")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def wait_for(cond: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    """Polls ``cond`` until it returns something true (returned), for at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


class Node:
    """One dhtregd on loopback: ``--port 0``, its data dir and socket under ``tmp``; short TTLs
    allowed (``--min-ttl 2``) and a tolerated clock skew of 1 s, so that ended leases vanish fast."""

    def __init__(self, tmp: str, name: str, *flags: str) -> None:
        self.name, self.flags = name, list(flags)
        self.dir = os.path.join(tmp, name)
        self.sock = os.path.join(tmp, name + ".sock")
        self.log = os.path.join(tmp, name + ".log")
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0
        self.peer_id = ""

    def start(self, bootstrap: Optional["Node"] = None, timeout: float = 30, port: int = 0) -> "Node":
        """Starts the node (joining through ``bootstrap``; on UDP ``port``, 0: any) and waits until
        it answers ``health``."""
        args: List[str] = [str(BIN / "dhtregd"), "--port", str(port), "--data-dir", self.dir, "--rpc-socket", self.sock,
                           "--min-ttl", "2", "--clock-skew", "1", *self.flags]
        if bootstrap is not None:
            args += ["--bootstrap", f"127.0.0.1:{bootstrap.port}"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        c = dhtreg.Client(self.sock, timeout=5)  # connects at each call until one answers
        try:
            wait_for(lambda: self._answers(c), timeout, f"{self.name} to answer health")
            info = c.node_info()
        finally:
            c.close()
        self.port, self.peer_id = info["port"], info["peer_id"]
        return self

    def _answers(self, c: dhtreg.Client) -> Optional[dhtreg.Health]:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
        try:
            return c.health()
        except dhtreg.NodeUnavailable:
            return None

    def client(self, timeout: float = 30) -> dhtreg.Client:
        return dhtreg.Client(self.sock, timeout=timeout)

    def async_client(self, timeout: float = 30) -> dhtreg.AsyncClient:
        return dhtreg.AsyncClient(self.sock, timeout=timeout)

    def wait_peers(self, n: int = 1, timeout: float = 30) -> None:
        with self.client() as c:
            wait_for(lambda: c.node_info()["peers"] >= n, timeout, f"{self.name} to have {n} peer(s)", 0.1)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; fails on a sanitizer report in the log."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        text = self.log_text()
        for mark in SANITIZER_MARKS:
            if mark in text:
                raise AssertionError(f"sanitizer report in {self.log}:\n{text[text.index(mark) - 200:][:4000]}")

    def log_text(self) -> str:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""
