"""test_examples.py - the examples end to end against a real node:

- PythonExamples: examples/python/service.py registers an echo service (a lease heartbeat),
  examples/python/client.py discovers it and exchanges a message (by label and by LABEL@ALIAS);
  SIGTERM withdraws the service and the client then finds none (exit 3);
- ShellExample: examples/shell/watch-reload.sh runs its command on an advertise and a withdraw.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
from typing import Dict, List

import dhtreg
from nodes import BIN, ROOT, Node, wait_for

EXAMPLES = ROOT / "examples"


class Example(unittest.TestCase):
    """One node, alone in its network, found by the examples through $DHTREG_SOCKET."""

    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="dhtreg-ex-")
        self.node = Node(self.tmp, "n")
        self.procs: List[subprocess.Popen] = []
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.addCleanup(self.node.stop)
        self.addCleanup(self.kill_all)
        self.node.start()
        self.env: Dict[str, str] = dict(os.environ, DHTREG_SOCKET=self.node.sock,
                                        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                                        PYTHONPATH=str(ROOT / "python"))
        self.env.pop("DHTREG_NAMES", None)

    def kill_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def spawn(self, args: List[str], log: str) -> subprocess.Popen:
        with open(os.path.join(self.tmp, log), "wb") as f:
            p = subprocess.Popen(args, env=self.env, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        self.procs.append(p)
        return p

    def read(self, name: str) -> str:
        try:
            with open(os.path.join(self.tmp, name), encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def client_py(self, *args: str, env: Dict[str, str] = {}) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(EXAMPLES / "python" / "client.py"), *args],
                              env=dict(self.env, **env), capture_output=True, text=True, timeout=60)


class PythonExamples(Example):
    def test_service_and_client(self) -> None:
        with self.node.client() as c:
            c.resource_create("echo")
            me = c.node_info()["peer_id"]
        svc = self.spawn([sys.executable, str(EXAMPLES / "python" / "service.py"), "echo", "s1", "0", "echo"],
                         "service.log")
        wait_for(lambda: "service: advertised s1 on 127.0.0.1:" in self.read("service.log") or svc.poll() is not None,
                 30, "the service to advertise")
        self.assertIsNone(svc.poll(), self.read("service.log"))
        with self.node.client() as c:
            rec = c.resolve(c.resource_id("echo")).records[0]
            self.assertEqual((rec.service_id, rec.type, rec.host), ("s1", "echo", "127.0.0.1"))
            self.assertEqual([r.lease for r in c.list().records], [True])

        out = self.client_py("echo", "echo", "hello there")
        self.assertEqual((out.returncode, out.stdout), (0, "s1 says: hello there\n"), out.stderr)
        names = os.path.join(self.tmp, "names")
        with open(names, "w") as f:
            f.write(f"here = {me}  # this node\n")
        out = self.client_py("echo@here", "echo", "by name", env={"DHTREG_NAMES": names})
        self.assertEqual((out.returncode, out.stdout), (0, "s1 says: by name\n"), out.stderr)
        out = self.client_py("echo", "gopher")
        self.assertEqual((out.returncode, out.stdout), (3, "no gopher backend\n"), out.stderr)

        svc.send_signal(signal.SIGTERM)
        self.assertEqual(svc.wait(30), 0, self.read("service.log"))
        self.assertIn("service: withdrawn", self.read("service.log"))
        out = self.client_py("echo", "echo", "anyone?")
        self.assertEqual((out.returncode, out.stdout), (3, "no echo backend\n"), out.stderr)

    def test_errors(self) -> None:
        out = self.client_py("echo@nowhere")
        self.assertEqual(out.returncode, 1)
        self.assertIn("no alias 'nowhere'", out.stderr)
        out = self.client_py("echo", env={"DHTREG_SOCKET": os.path.join(self.tmp, "none.sock")})
        self.assertEqual(out.returncode, 1)
        self.assertIn("is dhtregd running?", out.stderr)
        svc = subprocess.run([sys.executable, str(EXAMPLES / "python" / "service.py"), "echo"], env=self.env,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(svc.returncode, 2)


class ShellExample(Example):
    def test_watch_reload(self) -> None:
        out = os.path.join(self.tmp, "reloads")
        with self.node.client() as c:
            rid = c.resource_create("web").resource_id
            c.advertise(rid, "before", host="10.0.0.1", port=80, ttl=60)
            script = self.spawn(["sh", str(EXAMPLES / "shell" / "watch-reload.sh"), rid, "sh", "-c",
                                 f'echo "$DHTREG_EVENT $DHTREG_SERVICE_ID $DHTREG_ADDRESS" >> {out}'],
                                "watch-reload.log")
            # the live record is replayed first: the command ran once the watch is on
            wait_for(lambda: self.read("reloads") or script.poll() is not None, 30, "the first reload")
            self.assertIsNone(script.poll(), self.read("watch-reload.log"))
            self.assertEqual(self.read("reloads"), "register before 10.0.0.1:80\n")
            c.advertise(rid, "web-1", host="10.0.0.2", port=8080, ttl=60)
            wait_for(lambda: "register web-1" in self.read("reloads"), 30, "a reload on the advertise")
            c.withdraw(rid, "web-1")
            wait_for(lambda: "deregister web-1" in self.read("reloads"), 30, "a reload on the withdraw")
        self.assertEqual(self.read("reloads").splitlines(), ["register before 10.0.0.1:80",
                                                             "register web-1 10.0.0.2:8080",
                                                             "deregister web-1 10.0.0.2:8080"])
        script.send_signal(signal.SIGTERM)
        self.assertEqual(script.wait(10), 0)

    def test_watch_reload_fails_fast(self) -> None:
        bad = subprocess.run(["sh", str(EXAMPLES / "shell" / "watch-reload.sh"), "not-a-resource", "true"],
                             env=self.env, capture_output=True, text=True, timeout=60)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("not-a-resource", bad.stderr)


if __name__ == "__main__":
    unittest.main()
