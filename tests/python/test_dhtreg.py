"""test_dhtreg.py - python/dhtreg.py against real nodes: every method (blocking and asyncio), typed
errors, paging, discover, watch, health checks, the lease heartbeats across a node restart and after
they stop, names files.

Two nodes for the whole module: A starts a network, B joins through it. Run from this directory
with PYTHONPATH=python and DR_BIN_DIR=build/bin (as ctest does):
    python3 -m unittest -v test_dhtreg
"""
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from typing import Any, Awaitable, Callable, Dict, List, Optional

import dhtreg
from nodes import Node, wait_for

TMP = ""
A: Node
B: Node


def setUpModule() -> None:
    global TMP, A, B
    TMP = tempfile.mkdtemp(prefix="dhtreg-py-")
    A, B = Node(TMP, "a"), Node(TMP, "b")
    try:
        A.start()
        B.start(bootstrap=A)
        B.wait_peers()
        A.wait_peers()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule() -> None:
    try:
        for n in (B, A):
            n.stop()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


def sids(records: List[dhtreg.Record]) -> List[str]:
    return sorted(r.service_id for r in records)


async def poll(cond: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    """wait_for for coroutines."""
    deadline = time.monotonic() + timeout
    while True:
        value = await cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


class Blocking(unittest.TestCase):
    """The blocking Client: every method, its results and its errors."""

    def setUp(self) -> None:
        self.a, self.b = A.client(), B.client()

    def tearDown(self) -> None:
        self.a.close()
        self.b.close()

    def resolves(self, rid: str, want: List[str], node: Optional[dhtreg.Client] = None) -> dhtreg.Resolution:
        """Polls a resolve (on A by default) until its service ids are ``want``."""
        def matches() -> Optional[dhtreg.Resolution]:
            r = (node or self.a).resolve_all(rid)
            return r if sids(r.records) == sorted(want) else None
        return wait_for(matches, 15, f"{rid} to resolve to {want}")

    def test_health_and_node_info(self) -> None:
        h = self.a.health()
        self.assertIsInstance(h, dhtreg.Health)
        self.assertEqual((h.status, h.ready, h.warnings), ("ok", True, []))
        info = self.b.node_info()
        self.assertEqual((info["peer_id"], info["port"]), (B.peer_id, B.port))
        self.assertTrue(dhtreg.is_id(info["peer_id"]))
        self.assertEqual(self.a.call("health")["status"], "ok")  # any method, raw
        self.assertIsNone(self.b.node_bootstrap([f"127.0.0.1:{A.port}"]))

    def test_resources(self) -> None:
        res = self.a.resource_create("res-t", policy="owner", allow=[B.peer_id])
        self.assertIsInstance(res, dhtreg.Resource)
        self.assertEqual((res.label, res.owner, res.policy, res.allow), ("res-t", A.peer_id, "owner", [B.peer_id]))
        self.assertEqual(self.a.resource_id("res-t"), res.resource_id)
        self.assertEqual(self.b.resource_id("res-t", owner=A.peer_id), res.resource_id)  # computed by B
        got = wait_for(lambda: self.b.resource_get(res.resource_id), 15, "B to read A's resource")
        self.assertEqual((got.resource_id, got.policy, got.seq), (res.resource_id, "owner", res.seq))
        with self.assertRaises(dhtreg.NotFound):
            self.a.resource_get(self.a.resource_id("never-created"))
        self.assertIsNone(self.a.pin(res.resource_id))
        self.assertIsNone(self.a.unpin(res.resource_id))
        with self.assertRaises(dhtreg.NotFound):
            self.a.unpin(res.resource_id)

    def test_create_again_keeps_what_is_not_given(self) -> None:
        """None keeps: the service's resource_create("svc") at each start leaves the owner's lock-down
        as it is and signs nothing; what is given changes, and allow=[] empties the allow-list."""
        locked = self.a.resource_create("svc", policy="owner", allow=[B.peer_id], shards=2)
        for _ in range(2):  # two restarts of the service
            again = self.a.resource_create("svc")
            self.assertEqual((again.policy, again.allow, again.shards, again.seq),
                             ("owner", [B.peer_id], 2, locked.seq))
        self.assertEqual(self.a.resource_get(locked.resource_id).policy, "owner")
        emptied = self.a.resource_create("svc", allow=[])
        self.assertEqual((emptied.policy, emptied.allow, emptied.shards), ("owner", [], 2))
        self.assertGreater(emptied.seq, locked.seq)
        grown = self.a.resource_create("svc", shards=4)
        self.assertEqual((grown.policy, grown.allow, grown.shards), ("owner", [], 4))
        opened = self.a.resource_create("svc", policy="open")
        self.assertEqual((opened.policy, opened.shards), ("open", 4))
        with self.assertRaises(dhtreg.InvalidParams) as cm:
            self.a.resource_create("svc", allow=[B.peer_id])  # an allow-list is an owner resource's
        self.assertEqual(cm.exception.param, "allow")

    def test_advertise_resolve_renew_withdraw(self) -> None:
        rid = self.a.resource_create("web").resource_id
        ad = self.b.advertise(rid, "web-1", host="10.0.0.5", port=8080, addresses=["10.0.0.5:8080"], type="http",
                              tags=["v2"], metadata={"zone": "eu"}, ttl=60)
        self.assertIsInstance(ad, dhtreg.Advertised)
        self.assertEqual((ad.resource_id, ad.service_id, ad.peer_id), (rid, "web-1", B.peer_id))
        rec = self.resolves(rid, ["web-1"]).records[0]  # read on A, through the DHT
        self.assertIsInstance(rec, dhtreg.Record)
        self.assertEqual((rec.peer_id, rec.host, rec.port, rec.addresses, rec.type, rec.tags, rec.metadata),
                         (B.peer_id, "10.0.0.5", 8080, ["10.0.0.5:8080"], "http", ["v2"], {"zone": "eu"}))
        self.assertEqual((rec.seq, rec.expires_at, rec.health), (ad.seq, ad.expires_at, "passing"))
        mine = [r for r in self.b.list().records if r.resource_id == rid]
        self.assertEqual([(r.service_id, r.ttl, r.lease) for r in mine], [("web-1", 60, False)])
        renewed = self.b.renew(rid, "web-1")
        self.assertGreater(renewed.seq, ad.seq)
        self.assertIsInstance(self.b.withdraw(rid, "web-1"), bool)
        self.resolves(rid, [])
        with self.assertRaises(dhtreg.NotFound):
            self.b.withdraw(rid, "web-1")
        with self.assertRaises(dhtreg.NotFound):
            self.b.renew(rid, "web-1")

    def test_errors(self) -> None:
        with self.assertRaises(dhtreg.InvalidParams) as cm:
            self.a.resolve("not-an-id")
        self.assertEqual((cm.exception.code, cm.exception.param), (-32602, "resource_id"))
        self.assertIn("resource_id", str(cm.exception))
        rid = self.a.resource_id("errors")
        with self.assertRaises(dhtreg.InvalidParams) as cm:
            self.a.advertise(rid, "x", ttl=1)
        self.assertEqual(cm.exception.param, "ttl")
        with self.assertRaises(dhtreg.InvalidParams) as cm:
            self.a.node_bootstrap(["nope"])
        self.assertEqual(cm.exception.param, "addresses")
        with self.assertRaises(dhtreg.LimitExceeded) as cm:
            self.a.advertise(rid, "x", tags=[str(i) for i in range(17)])
        self.assertEqual(cm.exception.code, -32012)
        with self.assertRaises(dhtreg.NotFound) as cm:
            self.a.withdraw(rid, "nothing")
        self.assertEqual(cm.exception.code, -32004)
        with self.assertRaises(dhtreg.NotFound):
            self.a.discover(rid)
        with self.assertRaises(dhtreg.DhtregError) as cm:
            self.a.call("no.such.method")
        self.assertEqual(cm.exception.code, -32601)
        locked = self.a.resource_create("locked", policy="owner").resource_id
        wait_for(lambda: self.b.resolve(locked).resource, 15, "B to see the locked resource")
        with self.assertRaises(dhtreg.Forbidden) as cm:
            self.b.advertise(locked, "intruder")
        self.assertIn(B.peer_id, str(cm.exception))
        path = os.path.join(TMP, "nobody.sock")
        for client in (dhtreg.Client(path), dhtreg.Client(path, timeout=1)):
            with self.assertRaises(dhtreg.NodeUnavailable) as cm:
                client.health()
            self.assertEqual(str(cm.exception), f"no node at {path}: is dhtregd running?")
            self.assertIsInstance(cm.exception, ConnectionError)
            client.close()

    def test_paging(self) -> None:
        rid = self.a.resource_create("fleet").resource_id
        names = [f"n{i}" for i in range(7)]
        for n in names:
            self.b.advertise(rid, n, port=1000 + int(n[1:]), ttl=60)
        self.resolves(rid, names)
        seen: List[str] = []
        page = self.a.resolve(rid, limit=2)
        pages = 1
        while True:
            self.assertLessEqual(len(page.records), 2)
            seen += [r.service_id for r in page.records]
            if not page.next_cursor:
                break
            page = self.a.resolve(rid, limit=2, cursor=page.next_cursor)
            pages += 1
        self.assertEqual(sorted(seen), names)  # every record, none twice
        self.assertGreaterEqual(pages, 4)
        self.assertEqual(sids(self.a.resolve_all(rid, limit=3).records), names)
        with self.assertRaises(dhtreg.InvalidParams) as cm:
            self.a.resolve(rid, limit=2, cursor="AAAA")
        self.assertEqual(cm.exception.param, "cursor")

    def test_discover_by_type(self) -> None:
        rid = self.a.resource_create("typed").resource_id
        for sid, kind in (("a1", "api"), ("a2", "api"), ("d1", "db")):
            self.b.advertise(rid, sid, type=kind, host="127.0.0.1", port=1, ttl=60)
        self.resolves(rid, ["a1", "a2", "d1"])
        self.assertEqual(self.a.discover(rid, "db").service_id, "d1")
        picked = {self.a.discover(rid, "api").service_id for _ in range(30)}
        self.assertTrue(picked <= {"a1", "a2"} and picked, picked)
        self.assertIn(self.a.discover(rid).service_id, {"a1", "a2", "d1"})
        with self.assertRaises(dhtreg.NotFound):
            self.a.discover(rid, "cache")

    def test_watch_iterator(self) -> None:
        rid = self.a.resource_create("watched").resource_id
        self.b.advertise(rid, "old", ttl=60)
        self.resolves(rid, ["old"])
        with self.a.watch(rid, timeout=20) as w:
            self.assertIsInstance(w.subscription, int)
            first = next(w)  # the replay of what is live already
            self.assertEqual((first.type, first.record.service_id, first.subscription), ("register", "old",
                                                                                          w.subscription))
            self.b.advertise(rid, "new", host="127.0.0.1", port=9, ttl=60)
            ev = next(w)
            self.assertEqual((ev.type, ev.record.service_id, ev.record.port), ("register", "new", 9))
            self.b.withdraw(rid, "new")
            ev = next(w)
            self.assertEqual((ev.type, ev.record.service_id), ("deregister", "new"))
            with self.assertRaises(dhtreg.Timeout):
                w.next(timeout=0.3)
            w.unwatch()
            self.assertEqual(list(w), [])

    def test_health_check(self) -> None:
        rid = self.a.resource_create("checked").resource_id
        with socket.socket() as s:  # a port where nothing listens
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.b.advertise(rid, "up", ttl=60)
        self.resolves(rid, ["up"])
        with self.a.watch(rid, timeout=20) as w:
            self.b.advertise(rid, "down", host="127.0.0.1", port=port, ttl=60,
                             check={"tcp": f"127.0.0.1:{port}", "interval": 1, "failures": 2})  # critical after 1 s
            wait_for(lambda: [r for r in self.a.resolve(rid, include="all").records
                              if (r.service_id, r.health) == ("down", "critical")], 15, "down to turn critical")
            self.assertEqual(sids(self.a.resolve(rid).records), ["up"])  # passing ones only
            self.assertEqual(sids(self.a.resolve_all(rid, include="all").records), ["down", "up"])
            self.assertEqual({self.a.discover(rid).service_id for _ in range(20)}, {"up"})
            seen = []
            while ("critical", "down") not in seen:
                ev = w.next()
                seen.append((ev.type, ev.record.service_id))
            self.assertLess(seen.index(("register", "down")), seen.index(("critical", "down")))
        mine = {r.service_id: r for r in self.b.list().records if r.resource_id == rid}
        self.assertIsNone(mine["up"].check)
        chk = mine["down"].check
        self.assertEqual((chk["type"], chk["tcp"], chk["status"], chk["interval"]),
                         ("tcp", f"127.0.0.1:{port}", "critical", 1))
        self.assertIn("connection refused", chk["output"])
        with self.assertRaises(dhtreg.InvalidParams) as cm:
            self.b.advertise(rid, "x", check={"tcp": "nope"})
        self.assertEqual(cm.exception.param, "check.tcp")
        with self.assertRaises(dhtreg.InvalidParams) as cm:
            self.a.resolve(rid, include="some")
        self.assertEqual(cm.exception.param, "include")

    def test_find_socket(self) -> None:
        env = {k: os.environ.pop(k) for k in ("DHTREG_SOCKET", "DHTREG_HOME") if k in os.environ}
        try:
            self.assertEqual(dhtreg.find_socket(), os.path.expanduser("~/.dhtreg/rpc.sock"))
            os.environ["DHTREG_HOME"] = "/srv/h"
            self.assertEqual(dhtreg.find_socket(), "/srv/h/rpc.sock")
            os.environ["DHTREG_SOCKET"] = A.sock
            self.assertEqual(dhtreg.find_socket(), A.sock)
            self.assertEqual(dhtreg.find_socket("/x.sock"), "/x.sock")
            with dhtreg.Client() as c:  # found through the environment
                self.assertEqual(c.node_info()["peer_id"], A.peer_id)
        finally:
            os.environ.pop("DHTREG_SOCKET", None)
            os.environ.pop("DHTREG_HOME", None)
            os.environ.update(env)


class FakeNode:
    """A Unix socket that is not a node: once it read ``batch`` requests on its first connection,
    it writes the lines ``reply(requests)`` gives, then holds the connection until the end."""

    def __init__(self, path: str, batch: int, reply: Callable[[List[Dict[str, Any]]], List[str]]) -> None:
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(path)
        self.srv.listen(8)
        self.held: List[socket.socket] = []
        threading.Thread(target=self._serve, args=(batch, reply), daemon=True).start()

    def _serve(self, batch: int, reply: Callable[[List[Dict[str, Any]]], List[str]]) -> None:
        conn = self.srv.accept()[0]
        self.held.append(conn)
        f = conn.makefile("rwb")
        requests: List[Dict[str, Any]] = []
        while len(requests) < batch:
            line = f.readline()
            if not line:  # the client went away (it timed out)
                break
            requests.append(json.loads(line))
        else:
            f.write("".join(line + "\n" for line in reply(requests)).encode())
            f.flush()
        while True:  # later connections: never answered
            self.held.append(self.srv.accept()[0])

    def close(self) -> None:
        self.srv.close()
        for s in self.held:
            s.close()


class NotANode(unittest.TestCase):
    """What a real node does not do on demand: answers out of order, no answer at all."""

    def test_answers_out_of_order_go_to_their_calls(self) -> None:
        def reverse(requests: List[Dict[str, Any]]) -> List[str]:
            lines = ['{"jsonrpc":"2.0","method":"event","params":{"subscription":99,"type":"register"}}',
                     "not json at all"]  # skipped, as an event of no subscription of ours
            for r in reversed(requests):
                answer = {"jsonrpc": "2.0", "id": r["id"], "result": {"resource_id": r["params"]["label"]}}
                lines.append(json.dumps(answer))
            return lines
        fake = FakeNode(os.path.join(TMP, "reverse.sock"), 5, reverse)

        async def main() -> None:
            async with dhtreg.AsyncClient(os.path.join(TMP, "reverse.sock"), timeout=10) as c:
                got = await asyncio.gather(*[c.resource_id(f"x{i}") for i in range(5)])
                self.assertEqual(got, [f"x{i}" for i in range(5)])
        try:
            asyncio.run(main())
        finally:
            fake.close()

    def test_no_answer_times_out_and_untrusted_socket(self) -> None:
        path = os.path.join(TMP, "mute.sock")
        fake = FakeNode(path, 1000, lambda r: [])
        try:
            c = dhtreg.Client(path, timeout=0.3)
            t0 = time.monotonic()
            with self.assertRaises(dhtreg.Timeout) as cm:
                c.health()
            self.assertIsNone(cm.exception.code)  # the client's own deadline, not the node's -32010
            self.assertIsInstance(cm.exception, TimeoutError)
            self.assertLess(time.monotonic() - t0, 5)
            c.close()
            if os.getuid() == 0:  # a socket of another user is refused, unless named as the node's owner
                os.chown(path, 65534, 65534)
                with self.assertRaises(dhtreg.UntrustedSocket):
                    dhtreg.Client(path, timeout=0.3).health()
                with self.assertRaises(dhtreg.Timeout):
                    dhtreg.Client(path, timeout=0.3, socket_owner="65534").health()
        finally:
            fake.close()


class LeftOpen(unittest.TestCase):
    """Clients a program forgets to close: closed when collected, or at exit,
    with no task left pending (asyncio's "Task was destroyed but it is pending!")."""

    def run_program(self, body: str) -> subprocess.CompletedProcess:
        code = "import gc, sys, threading, dhtreg\n" + body
        return subprocess.run([sys.executable, "-c", code, A.sock, A.peer_id], capture_output=True, text=True,
                              timeout=60, env=dict(os.environ, PYTHONPATH=os.path.dirname(dhtreg.__file__)))

    def test_client_left_open_at_exit(self) -> None:
        p = self.run_program("c = dhtreg.Client(sys.argv[1])\nc.health()\n"
                             "w = c.watch(c.resource_id('left-open'))\n"
                             "print('ok')\n")
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, "ok\n", ""))

    def test_client_collected(self) -> None:
        p = self.run_program("c = dhtreg.Client(sys.argv[1])\nc.health()\ndel c\ngc.collect()\n"
                             "print([t.name for t in threading.enumerate() if t.name.startswith('dhtreg')])\n")
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, "[]\n", ""))


class Names(unittest.TestCase):
    """label@alias through names files: $DHTREG_NAMES, ~/.dhtreg/names, /etc/dhtreg/names."""

    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp(dir=TMP)
        self.env = {k: os.environ.get(k) for k in ("DHTREG_NAMES", "HOME")}
        os.environ["HOME"] = self.dir
        os.makedirs(os.path.join(self.dir, ".dhtreg"))
        self.home_names = os.path.join(self.dir, ".dhtreg", "names")
        self.env_names = os.path.join(self.dir, "names")
        os.environ["DHTREG_NAMES"] = self.env_names

    def tearDown(self) -> None:
        for k, v in self.env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def write(self, path: str, text: str) -> None:
        with open(path, "w") as f:
            f.write(text)

    def test_names_files(self) -> None:
        self.assertEqual(dhtreg.names_files(), [self.env_names, self.home_names, "/etc/dhtreg/names"])
        self.write(self.env_names, f"# our nodes\n\nprod = {B.peer_id}   # node b\n")
        self.write(self.home_names, f"prod = {A.peer_id}\nstaging={A.peer_id}\n")
        with A.client() as c:
            web_b = c.resource_id("web", owner=B.peer_id)
            self.assertEqual(c.resolve_name("web@prod"), web_b)  # the first file naming it wins
            self.assertEqual(c.resolve_name("web@staging"), c.resource_id("web"))  # found in the second
            self.assertEqual(c.resolve_name(f"web@{B.peer_id}"), web_b)
            self.assertEqual(c.resolve_name("web"), c.resource_id("web"))  # this node's own
            self.assertEqual(c.resolve_name(web_b), web_b)  # an id passes through
            self.assertEqual(c.resolve_name("a@b@prod"), c.resource_id("a@b", owner=B.peer_id))
            with self.assertRaises(dhtreg.NotFound) as cm:
                c.resolve_name("web@nowhere")
            self.assertIn(self.env_names, str(cm.exception))
            self.assertEqual(cm.exception.code, -32004)  # as docs/PYTHON.md says: not found, as the node's
            with self.assertRaises(dhtreg.NotFound) as cm:
                dhtreg.lookup_alias("nowhere")
            self.assertEqual(cm.exception.code, -32004)
            with self.assertRaises(dhtreg.InvalidParams):
                c.resolve_name("web@bad alias!")
            self.write(self.env_names, "prod = not-a-peer-id\n")
            with self.assertRaisesRegex(dhtreg.DhtregError, f"{self.env_names}:1: .*prod"):
                c.resolve_name("web@prod")
            self.assertEqual(c.resolve_name("web@staging"), c.resource_id("web"))  # other lines are fine
        self.assertEqual(dhtreg.split_name("web@staging", files=[self.home_names]), ("web", A.peer_id))
        self.assertEqual(dhtreg.split_name("web"), ("web", None))
        self.assertEqual(dhtreg.lookup_alias("prod", [self.home_names]), A.peer_id)

    def test_async_resolve_name(self) -> None:
        self.write(self.env_names, f"b = {B.peer_id}\n")

        async def main() -> None:
            async with A.async_client() as c:
                self.assertEqual(await c.resolve_name("svc@b"), await c.resource_id("svc", B.peer_id))
        asyncio.run(main())


class Async(unittest.TestCase):
    """The AsyncClient: concurrent calls on one connection, every method, errors, paging, watch."""

    def test_concurrent_calls_on_one_connection(self) -> None:
        async def main() -> None:
            async with A.async_client() as a, B.async_client() as b:
                rid = (await a.resource_create("async-web")).resource_id
                ids = await asyncio.gather(*[a.resource_id(f"l{i}") for i in range(50)])
                again = await asyncio.gather(*[a.resource_id(f"l{i}") for i in reversed(range(50))])
                self.assertEqual(ids, list(reversed(again)))  # each answer went to its own call
                self.assertEqual(len(set(ids)), 50)
                h, info, ad, bad = await asyncio.gather(a.health(), b.node_info(),
                                                        b.advertise(rid, "s1", type="api", port=5, ttl=60),
                                                        a.resolve("bad"), return_exceptions=True)
                self.assertTrue(h.ready)
                self.assertEqual(info["peer_id"], B.peer_id)
                self.assertEqual(ad.service_id, "s1")
                self.assertIsInstance(bad, dhtreg.InvalidParams)
                self.assertEqual(bad.param, "resource_id")
                await poll(lambda: a.resolve(rid), 15, "A to resolve s1")
                self.assertEqual((await a.discover(rid, "api")).port, 5)
                self.assertEqual((await a.resource_get(rid)).label, "async-web")
                self.assertGreater((await b.renew(rid, "s1")).seq, ad.seq)
                self.assertIn("s1", sids((await b.list()).records))
                self.assertIsNone(await a.pin(rid))
                self.assertIsNone(await a.unpin(rid))
                self.assertIsNone(await b.node_bootstrap([f"127.0.0.1:{A.port}"]))
                self.assertEqual((await a.call("health"))["status"], "ok")
                await b.withdraw(rid, "s1")
                with self.assertRaises(dhtreg.NotFound):
                    await b.withdraw(rid, "s1")
                with self.assertRaises(dhtreg.NotFound):
                    await a.unwatch(12345)
            with self.assertRaises(dhtreg.NodeUnavailable) as cm:
                await dhtreg.AsyncClient(os.path.join(TMP, "nobody.sock")).health()
            self.assertIn("is dhtregd running?", str(cm.exception))
        asyncio.run(main())

    def test_paging(self) -> None:
        async def main() -> None:
            async with A.async_client() as a, B.async_client() as b:
                rid = (await a.resource_create("async-fleet")).resource_id
                await asyncio.gather(*[b.advertise(rid, f"p{i}", ttl=60) for i in range(6)])
                await poll(lambda: _count(a, rid, 6), 15, "6 records on A")
                page, seen = await a.resolve(rid, limit=4), []
                seen += page.records
                self.assertIsNotNone(page.next_cursor)
                page = await a.resolve(rid, limit=4, cursor=page.next_cursor)
                seen += page.records
                self.assertIsNone(page.next_cursor)
                self.assertEqual(sids(seen), [f"p{i}" for i in range(6)])
                self.assertEqual(sids((await a.resolve_all(rid, limit=1)).records), sids(seen))
        asyncio.run(main())

    def test_watch_async_iterator(self) -> None:
        async def main() -> None:
            async with A.async_client() as a, B.async_client() as b:
                rid = (await a.resource_create("async-watched")).resource_id
                got: List[dhtreg.Event] = []

                async def watcher(w: dhtreg.AsyncWatch) -> None:
                    async for ev in w:
                        got.append(ev)
                w = a.watch(rid)
                await w.start()
                task = asyncio.ensure_future(watcher(w))
                await b.advertise(rid, "w1", ttl=60)
                await poll(lambda: _true(len(got) >= 1), 15, "a register event")
                await b.withdraw(rid, "w1")
                await poll(lambda: _true(len(got) >= 2), 15, "a deregister event")
                self.assertEqual([(e.type, e.record.service_id) for e in got], [("register", "w1"),
                                                                                 ("deregister", "w1")])
                await a.unwatch(w.subscription or 0)  # ends the iteration
                await asyncio.wait_for(task, 5)
                async with a.watch(rid) as w2:  # events and calls share the connection
                    await b.advertise(rid, "w2", ttl=60)
                    ev, h = await asyncio.gather(w2.next(15), a.health())
                    self.assertEqual((ev.type, ev.record.service_id, h.status), ("register", "w2", "ok"))
                    await b.withdraw(rid, "w2")
                    self.assertEqual((await w2.next(15)).type, "deregister")
        asyncio.run(main())


async def _count(c: dhtreg.AsyncClient, rid: str, n: int) -> bool:
    return len((await c.resolve_all(rid)).records) == n


async def _true(v: bool) -> bool:
    return v


class Heartbeats(unittest.TestCase):
    """Heartbeat (a thread) and AsyncHeartbeat (a task): leases that survive a restart of their
    node, and that end when the helper stops without withdrawing."""

    def test_both_heartbeats_across_a_node_restart(self) -> None:
        async def main() -> None:
            async with A.async_client() as a:
                rid = (await a.resource_create("leases")).resource_id
                sync_hb = dhtreg.Heartbeat(rid, "sync-1", ttl=3, port=1, type="echo", socket_path=B.sock)
                async_hb = dhtreg.AsyncHeartbeat(rid, "async-1", ttl=3, port=2, socket_path=B.sock)
                first = sync_hb.start()
                self.assertEqual(first.service_id, "sync-1")
                await async_hb.start()
                both = ["async-1", "sync-1"]
                await poll(lambda: _resolve_is(a, rid, both), 15, "both leases on A")
                listed = {r.service_id: r.lease for r in B.client().list().records if r.resource_id == rid}
                self.assertEqual(listed, {"sync-1": True, "async-1": True})

                # SIGTERM: B withdraws both and forgets them (a lease ends with its node); B starts
                # again on its data dir, socket and UDP port (so that A's lookups need not wait for
                # a dead address to time out)
                def restart() -> None:
                    B.stop()
                    with self.assertRaises(dhtreg.NodeUnavailable):
                        dhtreg.Client(B.sock).health()
                    B.start(bootstrap=A, port=B.port)
                await asyncio.get_running_loop().run_in_executor(None, restart)
                await poll(lambda: _true(sync_hb.advertisements >= 2 and async_hb.advertisements >= 2), 20,
                           "both heartbeats to advertise again")
                assert sync_hb.advertised and async_hb.advertised
                again = {"sync-1": sync_hb.advertised.seq, "async-1": async_hb.advertised.seq}
                await poll(lambda: _resolve_newer(a, rid, again), 20, "both leases back on A, re-advertised")
                renewals = async_hb.renewals
                await poll(lambda: _true(async_hb.renewals > renewals and sync_hb.renewals > 0), 10, "renewals")

                await asyncio.get_running_loop().run_in_executor(None, sync_hb.stop)  # withdraws
                await async_hb.stop()
                await poll(lambda: _resolve_is(a, rid, []), 15, "both withdrawn")
        asyncio.run(main())
        B.wait_peers()

    def test_lease_ends_when_the_helper_stops_without_withdrawing(self) -> None:
        async def main() -> None:
            async with A.async_client() as a:
                rid = (await a.resource_create("ending")).resource_id
                async with a.watch(rid) as w:
                    hb = dhtreg.AsyncHeartbeat(rid, "short", ttl=3, port=3, socket_path=B.sock)
                    ad = await hb.start()
                    self.assertEqual((await w.next(15)).type, "register")
                    # alive past its TTL only through the renewals
                    await poll(lambda: _true(time.time() > ad.expires_at + 1.5), 10, "the first TTL to pass")
                    self.assertGreaterEqual(hb.renewals, 2)
                    self.assertEqual(sids((await a.resolve(rid)).records), ["short"])
                    await hb.stop(withdraw=False)
                    ev = await w.next(15)  # not withdrawn: it expires
                    self.assertEqual((ev.type, ev.record.service_id), ("expire", "short"))
                await poll(lambda: _resolve_is(a, rid, []), 15, "the lease gone from A")
                with B.client() as b:
                    self.assertNotIn("short", sids(b.list().records))
        asyncio.run(main())

    def test_sync_heartbeat_context_manager_withdraws(self) -> None:
        with A.client() as a:
            rid = a.resource_create("hb-cm").resource_id
            with a.watch(rid, timeout=15) as w:
                with dhtreg.Heartbeat(rid, "cm", ttl=3, socket_path=B.sock) as hb:
                    self.assertEqual(next(w).type, "register")
                    self.assertIsNotNone(hb.advertised)
                    with B.client() as b:  # the node forgets the lease: the next renew says NotFound
                        b.withdraw(rid, "cm")
                    self.assertEqual(next(w).type, "deregister")
                    ev = next(w)  # and the heartbeat advertises it again
                    self.assertEqual((ev.type, ev.record.service_id), ("register", "cm"))
                    wait_for(lambda: hb.advertisements == 2, 10, "the heartbeat's answer")
                ev = next(w)
                self.assertEqual((ev.type, ev.record.service_id), ("deregister", "cm"))
        with self.assertRaises(dhtreg.InvalidParams):  # a bad record fails start at once
            dhtreg.Heartbeat("bad", "x", ttl=3, socket_path=B.sock).start()


async def _resolve_is(c: dhtreg.AsyncClient, rid: str, want: List[str]) -> bool:
    return sids((await c.resolve_all(rid)).records) == sorted(want)


async def _resolve_newer(c: dhtreg.AsyncClient, rid: str, seqs: Dict[str, int]) -> bool:
    """Whether every record of ``seqs`` resolves with at least that seq."""
    got = {r.service_id: r.seq for r in (await c.resolve_all(rid)).records}
    return all(got.get(sid, -1) >= seq for sid, seq in seqs.items())


if __name__ == "__main__":
    unittest.main()
