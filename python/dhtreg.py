"""dhtreg.py - a Python client of a dhtreg node (dhtregd), over its JSON-RPC Unix socket.

One file, standard library only (Python 3.9+). ``Client`` (blocking) and ``AsyncClient`` (asyncio)
have one method per JSON-RPC method; ``Heartbeat`` and ``AsyncHeartbeat`` keep a lease alive across
node restarts; ``watch()`` yields events. docs/PYTHON.md shows how to use it, docs/API.md is the contract.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import pwd
import re
import threading
import weakref
from dataclasses import dataclass, field, fields
from typing import (TYPE_CHECKING, Any, Callable, Coroutine, Dict, Iterator, List, Optional, Sequence, Tuple, Type,
                    TypeVar, Union)

if TYPE_CHECKING:
    from typing_extensions import Concatenate, ParamSpec
    P = ParamSpec("P")

log = logging.getLogger("dhtreg")  # the heartbeats' retries; silent unless the program configures logging
log.addHandler(logging.NullHandler())
_MAX_LINE = 64 << 20  # an answer longer than this is not from a sane node


# ---- errors ------------------------------------------------------------------------------
class DhtregError(Exception):
    """An error the node answered (``code``: its JSON-RPC code), or the client's own (None)."""

    def __init__(self, code: Optional[int], message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    def __str__(self) -> str:
        return self.message if self.code is None else f"{self.message} (error {self.code})"


class NotFound(DhtregError):
    """-32004: no such record, resource, subscription or pin (or names-file alias)."""


class InvalidParams(DhtregError):
    """-32602: a bad param; ``param`` is the one the node named."""

    @property
    def param(self) -> Optional[str]:
        m = re.match(r"invalid param ([\w.]+)", self.message)
        return m.group(1) if m else None


class Timeout(DhtregError, TimeoutError):
    """-32010: the DHT did not answer in time; or (``code`` None) the node not within the call's timeout."""


class Forbidden(DhtregError):
    """-32011: the resource's policy forbids this node to add records."""


class LimitExceeded(DhtregError):
    """-32012: a size, count or rate limit was exceeded (the message names it)."""


class NodeUnavailable(DhtregError, ConnectionError):
    """No node at the socket, or the connection broke (the next call connects again)."""


class UntrustedSocket(NodeUnavailable):
    """The socket belongs to another user than you, root or ``socket_owner``: not connected."""


_ERRORS: Dict[int, Type[DhtregError]] = {-32004: NotFound, -32602: InvalidParams, -32010: Timeout,
                                         -32011: Forbidden, -32012: LimitExceeded}


def _error(obj: Any) -> DhtregError:
    """The exception of a JSON-RPC error object."""
    obj = obj if isinstance(obj, dict) else {"message": str(obj)}
    code = obj.get("code") if isinstance(obj.get("code"), int) else None
    return _ERRORS.get(code, DhtregError)(code, str(obj.get("message", "")))


def _unavailable(path: str, e: Any, lost: bool = False) -> NodeUnavailable:
    if lost:
        return NodeUnavailable(None, f"lost the connection to the node at {path}: {e}")
    if isinstance(e, (FileNotFoundError, ConnectionRefusedError)):
        return NodeUnavailable(None, f"no node at {path}: is dhtregd running?")
    return NodeUnavailable(None, f"cannot connect to {path}: {e.strerror or e}")


# ---- results -----------------------------------------------------------------------------
@dataclass
class Record:
    """One provider of a resource: ``health`` passing or critical (``ttl``, ``lease``, ``check``: in ``list``)."""
    resource_id: str
    service_id: str
    peer_id: str = ""
    host: str = ""
    port: int = 0
    addresses: List[str] = field(default_factory=list)
    type: str = ""
    tags: List[str] = field(default_factory=list)
    metadata: Dict[str, str] = field(default_factory=dict)
    issued_at: int = 0
    expires_at: int = 0
    seq: int = 0
    health: str = ""
    ttl: Optional[int] = None
    lease: Optional[bool] = None
    check: Optional[Dict[str, Any]] = None


@dataclass
class Resource:
    """A resource: a named group of services owned by a key (``published``: from create)."""
    resource_id: str
    label: str = ""
    owner: str = ""
    created_at: int = 0
    policy: str = "open"
    allow: List[str] = field(default_factory=list)
    shards: int = 1
    seq: int = 0
    published: Optional[bool] = None


@dataclass
class Resolution:
    """A page of ``resolve``: the resource (None: unknown), its live records, the next page's cursor."""
    resource: Optional[Resource]
    records: List[Record]
    next_cursor: Optional[str] = None


@dataclass
class Health:
    """``health``: ``ready`` says whether the node should get traffic, ``warnings`` why not."""
    status: str
    ready: bool
    warnings: List[str] = field(default_factory=list)
    timestamp: int = 0


@dataclass
class Advertised:
    """The answer of advertise and renew: the version's seq and expiry, whether a DHT node stored it."""
    seq: int
    expires_at: int
    published: bool = False
    resource_id: str = ""
    service_id: str = ""
    peer_id: str = ""


@dataclass
class Listing:
    """``list``: this node's own resources and live advertisements."""
    resources: List[Resource]
    records: List[Record]


@dataclass
class Event:
    """A watch event: ``type`` is register, deregister, expire, critical or passing (its health changed)."""
    type: str
    record: Record
    subscription: int


T = TypeVar("T")
_Item = Union[Event, DhtregError, None]  # what a watch's queue holds: events, the end of the connection, close()


def _build(cls: Type[T], obj: Any) -> T:
    """A result dataclass from a JSON object; unknown keys are ignored (newer nodes add some)."""
    try:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in names})
    except (TypeError, AttributeError):
        raise DhtregError(None, f"unexpected answer for {cls.__name__}: {obj!r:.200}") from None


def _resolution(r: Dict[str, Any]) -> Resolution:
    return Resolution(_build(Resource, r["resource"]) if r.get("resource") else None,
                      [_build(Record, x) for x in r.get("records") or []], r.get("next_cursor"))


def _conv(cls: Type[T]) -> Callable[[Any], T]:
    return lambda r: _build(cls, r)


def _strs(v: Optional[Sequence[str]]) -> Optional[List[str]]:
    return None if v is None else ([v] if isinstance(v, str) else list(v))


# ---- where the node is, and whether to trust it -------------------------------------------
def find_socket(path: Optional[str] = None) -> str:
    """The node's socket as the CLI finds it: ``path``, $DHTREG_SOCKET, $DHTREG_HOME/rpc.sock, ~/.dhtreg/rpc.sock."""
    home = os.environ.get("DHTREG_HOME") or os.path.join(os.path.expanduser("~"), ".dhtreg")
    return path or os.environ.get("DHTREG_SOCKET") or os.path.join(home, "rpc.sock")


def _check_owner(path: str, owner: Optional[str]) -> None:
    """Raises UntrustedSocket unless the socket is yours, root's or ``owner``'s ($DHTREG_SOCKET_OWNER)."""
    try:
        uid = os.stat(path).st_uid
    except OSError:
        return
    owner = owner if owner is not None else os.environ.get("DHTREG_SOCKET_OWNER")  # a user name or uid
    try:
        if uid in (os.getuid(), 0) or (owner and uid == (int(owner) if owner.isdigit() else pwd.getpwnam(owner)[2])):
            return
    except KeyError:  # no such user
        pass
    raise UntrustedSocket(None, f"refusing {path}: it belongs to uid {uid}, not to you or root, so it may not be your "
                                "node; if that user runs your node, pass socket_owner (or set DHTREG_SOCKET_OWNER)")


# ---- names: "label@alias" through names files ---------------------------------------------
_ID_RE = re.compile(r"[1-9A-HJ-NP-Za-km-z]{43,44}\Z")
_ALIAS_RE = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")


def is_id(text: str) -> bool:
    """Whether ``text`` is shaped as a peer or resource id (base58 of 32 bytes: 43-44 characters)."""
    return bool(_ID_RE.match(text))


def names_files() -> List[str]:
    """The names files in the order they are read: ``$DHTREG_NAMES``, ``~/.dhtreg/names``, ``/etc/dhtreg/names``."""
    first = [os.environ["DHTREG_NAMES"]] if os.environ.get("DHTREG_NAMES") else []
    return first + [os.path.join(os.path.expanduser("~"), ".dhtreg", "names"), "/etc/dhtreg/names"]


def lookup_alias(alias: str, files: Optional[Sequence[str]] = None) -> str:
    """The peer id of ``alias`` (1-64 of A-Z a-z 0-9 . _ -): the first line ``alias = PEER_ID``
    naming it (``#`` starts a comment) in the first of ``files`` (default ``names_files()``) that
    has one, as the CLI reads them. NotFound when none does; DhtregError when that line is broken
    or a file before it exists but cannot be read."""
    if not _ALIAS_RE.match(alias):
        raise InvalidParams(None, f"{alias[:80]!r} is neither a peer id nor an alias (1-64 of A-Z a-z 0-9 . _ -)")
    files = names_files() if files is None else list(files)
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as e:
            raise DhtregError(None, f"{path}: {e.strerror}") from None
        for n, line in enumerate(lines, 1):
            name, eq, peer = (x.strip() for x in line.split("#", 1)[0].partition("="))
            if eq and name == alias:
                if not is_id(peer):
                    raise DhtregError(None, f"{path}:{n}: the line of {alias!r} is broken: not a peer id")
                return peer
    raise NotFound(-32004, f"no alias {alias!r} in the names files ({', '.join(files)})")


def split_name(name: str, files: Optional[Sequence[str]] = None) -> Tuple[str, Optional[str]]:
    """``(label, owner peer id)`` of ``LABEL@PEER_ID`` or ``LABEL@ALIAS`` (split at the last ``@``;
    see ``lookup_alias``), ``(label, None)`` of a bare label (this node's resource)."""
    label, at, owner = name.rpartition("@")
    if not at:
        return name, None
    return label, owner if is_id(owner) else lookup_alias(owner, files)


# ---- the asyncio client -------------------------------------------------------------------
class _Link:
    """One connection of an AsyncClient: the calls waiting for answers, the subscriptions."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.closed = reader, writer, False
        self.pending: Dict[int, Tuple["asyncio.Future[Any]", Optional[Callable[["_Link", Any], None]]]] = {}
        self.subs: Dict[int, "asyncio.Queue[_Item]"] = {}
        self.task: "asyncio.Task[None]"  # set as soon as the link is made

    def end(self, err: DhtregError) -> None:
        """Closes the connection; waiting calls and subscriptions get ``err``."""
        self.closed = True
        for fut, _ in self.pending.values():
            if not fut.done():
                fut.set_exception(err)
        for q in self.subs.values():
            q.put_nowait(err)
        self.pending, self.subs = {}, {}
        self.writer.close()


class AsyncClient:
    """An asyncio client of a node: any number of calls at once on one connection (answers
    matched by id), made at the first call and again after it broke. Its methods are those of
    Client, as coroutines; ``watch`` subscribes on this connection."""

    def __init__(self, socket_path: Optional[str] = None, timeout: Optional[float] = 30.0,
                 socket_owner: Optional[str] = None) -> None:
        self.path, self.timeout, self.socket_owner = find_socket(socket_path), timeout, socket_owner
        self._link: Optional[_Link] = None
        self._lock: Optional[asyncio.Lock] = None
        self._next_id = 0

    async def connect(self) -> "AsyncClient":
        """Connects now (calls do when needed); NodeUnavailable when no node answers."""
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self._link is None or self._link.closed:
                _check_owner(self.path, self.socket_owner)
                try:
                    r, w = await asyncio.open_unix_connection(self.path, limit=_MAX_LINE)
                except OSError as e:
                    raise _unavailable(self.path, e) from None
                self._link = _Link(r, w)
                self._link.task = asyncio.ensure_future(self._read(self._link))
        return self

    async def _read(self, link: _Link) -> None:
        """Hands each answer to its call and each event to its subscription, until the end."""
        err = NodeUnavailable(None, f"the node at {self.path} closed the connection")
        try:
            while True:
                line = await link.reader.readline()
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except ValueError:
                    msg = None
                if not isinstance(msg, dict):
                    continue
                p = msg.get("params")
                if isinstance(p, dict) and msg.get("method") == "event":
                    q = link.subs.get(p.get("subscription"))  # type: ignore[arg-type]
                    if q is not None:
                        q.put_nowait(Event(str(p.get("type")), _build(Record, p.get("record")), p["subscription"]))
                    continue
                fut, on_result = link.pending.pop(msg.get("id"), (None, None))  # type: ignore[arg-type]
                if fut is None or fut.done():
                    continue
                if "error" in msg:
                    fut.set_exception(_error(msg["error"]))
                    continue
                if on_result is not None:
                    on_result(link, msg.get("result"))  # before the next line: no event is missed
                fut.set_result(msg.get("result"))
        except Exception as e:  # the stream broke, or an answer over _MAX_LINE or malformed: end
            err = _unavailable(self.path, e, True)
        finally:
            link.end(err)

    async def close(self) -> None:
        """Closes the connection; its watches end with NodeUnavailable."""
        link, self._link, self._lock = self._link, None, None  # (a Lock of 3.9 is bound to its loop)
        if link is not None:
            link.end(NodeUnavailable(None, "the client was closed"))
            await asyncio.gather(link.task, return_exceptions=True)  # it reads the end of the stream

    async def __aenter__(self) -> "AsyncClient":
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def call(self, method: str, params: Optional[Dict[str, Any]] = None, timeout: Optional[float] = None,
                   _on_result: Optional[Callable[[_Link, Any], None]] = None) -> Any:
        """Calls any method by name and returns its raw result (``timeout`` None: the client's);
        after a Timeout, the call's late answer is dropped."""
        link = (await self.connect())._link
        assert link is not None
        self._next_id += 1
        cid, timeout = self._next_id, timeout or self.timeout
        fut: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()
        link.pending[cid] = (fut, _on_result)
        try:
            link.writer.write(json.dumps({"jsonrpc": "2.0", "id": cid, "method": method, "params": params or {}},
                                         separators=(",", ":")).encode() + b"\n")
            await link.writer.drain()
            return await asyncio.wait_for(fut, timeout)
        except DhtregError:  # the node's answer (Timeout is a TimeoutError too), or the link's end
            raise
        except asyncio.TimeoutError:
            raise Timeout(None, f"no answer from the node at {self.path} within {timeout:g} s") from None
        except OSError as e:
            link.end(_unavailable(self.path, e, True))
            raise _unavailable(self.path, e, True) from None
        finally:
            link.pending.pop(cid, None)

    async def _get(self, method: str, conv: Callable[[Any], T], **params: Any) -> T:
        """Calls ``method`` (params that are None left out) and converts its result."""
        return conv(await self.call(method, {k: v for k, v in params.items() if v is not None}))

    async def health(self) -> Health:
        """Whether the node is alive (it answers) and ready for traffic, and why not."""
        return await self._get("health", _conv(Health))

    async def node_info(self) -> Dict[str, Any]:
        """The node's peer id, DHT port, peers and counters (docs/API.md, node.info)."""
        return await self._get("node.info", dict)

    async def node_bootstrap(self, addresses: Sequence[str]) -> None:
        """Joins the network through more nodes (``host:port``, IPv6 as ``[addr]:port``)."""
        await self._get("node.bootstrap", lambda r: None, addresses=_strs(addresses))

    async def resource_id(self, label: str, owner: Optional[str] = None) -> str:
        """The id of the resource ``label`` of ``owner`` (a peer id; default: this node's)."""
        return await self._get("resource.id", lambda r: str(r["resource_id"]), label=label, owner=owner)

    async def resource_create(self, label: str, *, policy: Optional[str] = None,
                              allow: Optional[Sequence[str]] = None, shards: Optional[int] = None) -> Resource:
        """Creates a resource of this node, or sets what is given of it: ``policy`` "open" or "owner",
        ``allow`` (its allow-list of peer ids; [] empties it), ``shards``. None keeps the current value
        (a new resource: "open", no allow-list, 1 shard), so creating it again at every start is
        idempotent: it changes nothing, and signs nothing, that an owner set before."""
        return await self._get("resource.create", _conv(Resource), label=label, policy=policy, allow=_strs(allow),
                               shards=shards)

    async def resource_get(self, resource_id: str) -> Resource:
        """The resource entry itself; NotFound when there is none."""
        return await self._get("resource.get", _conv(Resource), resource_id=resource_id)

    async def advertise(self, resource_id: str, service_id: str, *, host: Optional[str] = None,
                        port: Optional[int] = None, addresses: Optional[Sequence[str]] = None,
                        type: Optional[str] = None, tags: Optional[Sequence[str]] = None,
                        metadata: Optional[Dict[str, str]] = None, ttl: Optional[int] = None,
                        lease: Optional[bool] = None, check: Optional[Dict[str, Any]] = None) -> Advertised:
        """Advertises (or replaces) this node's record ``service_id``; with ``lease=True`` it lives only while
        ``renew`` is called within ``ttl`` (see Heartbeat); ``check``: {"tcp": "HOST:PORT"}, {"http": URL}, ..."""
        return await self._get("record.advertise", _conv(Advertised), resource_id=resource_id,
                               service_id=service_id, host=host, port=port, addresses=_strs(addresses), type=type,
                               tags=_strs(tags), metadata=metadata, ttl=ttl, lease=lease, check=check)

    async def renew(self, resource_id: str, service_id: str) -> Advertised:
        """Re-signs a record now; NotFound when the node has no such live record (an ended lease)."""
        return await self._get("record.renew", lambda r: _build(Advertised, dict(
            r, resource_id=resource_id, service_id=service_id)), resource_id=resource_id, service_id=service_id)

    async def withdraw(self, resource_id: str, service_id: str) -> bool:
        """Withdraws a record of this node (a signed tombstone); NotFound when there is none.
        Returns whether a DHT node stored the tombstone."""
        return await self._get("record.withdraw", lambda r: bool(r.get("published")), resource_id=resource_id,
                               service_id=service_id)

    async def resolve(self, resource_id: str, limit: Optional[int] = None, cursor: Optional[str] = None,
                      include: Optional[str] = None) -> Resolution:
        """A page of ``limit`` (1-1000, default 100) live, passing records (``include="all"``: critical too)."""
        return await self._get("resolve", _resolution, resource_id=resource_id, limit=limit, cursor=cursor,
                               include=include)

    async def resolve_all(self, resource_id: str, limit: Optional[int] = None, include: str = "passing") -> Resolution:
        """Every live record (``include="all"``: critical ones too), following the cursors (pages of ``limit``)."""
        page = await self.resolve(resource_id, limit, include=include)
        records = list(page.records)
        while page.next_cursor:
            page = await self.resolve(resource_id, limit, page.next_cursor, include)
            records += page.records
        return Resolution(page.resource, records)

    async def discover(self, resource_id: str, type: Optional[str] = None, include: str = "passing") -> Record:
        """One live passing (``include="all"``: or critical) record of ``type`` (None: any), at random; or NotFound."""
        return await self._get("discover", _conv(Record), resource_id=resource_id, type=type, include=include)

    async def list(self) -> Listing:
        """This node's own resources and live advertisements (with ``ttl`` and ``lease``)."""
        return await self._get("list", lambda r: Listing([_build(Resource, x) for x in r.get("resources") or []],
                                                         [_build(Record, x) for x in r.get("records") or []]))

    def watch(self, resource_id: str) -> "AsyncWatch":
        """The events of a resource, on this connection: ``async with c.watch(rid) as w:
        async for event in w: ...`` (``async for`` alone subscribes too)."""
        return AsyncWatch(self, resource_id)

    async def unwatch(self, subscription: int) -> None:
        """Ends a subscription of this connection (its AsyncWatch stops); NotFound when there is none."""
        await self._get("unwatch", lambda r: None, subscription=subscription)
        q = self._link.subs.pop(subscription, None) if self._link else None
        if q is not None:
            q.put_nowait(None)

    async def pin(self, resource_id: str) -> None:
        """Makes the node cache the resource and keep its entries replicated."""
        await self._get("resource.pin", lambda r: None, resource_id=resource_id)

    async def unpin(self, resource_id: str) -> None:
        """Ends a pin; NotFound when the node does not pin the resource."""
        await self._get("resource.unpin", lambda r: None, resource_id=resource_id)

    async def resolve_name(self, name: str, files: Optional[Sequence[str]] = None) -> str:
        """The resource id of a name: an id passes through, ``label@alias`` is the resource of the
        alias's peer (see ``names_files``), a bare ``label`` this node's own."""
        return name if is_id(name) else await self.resource_id(*split_name(name, files))


class AsyncWatch:
    """The events of one subscription of an AsyncClient's connection, as an async iterator
    (the first ones replay the records live already); it raises NodeUnavailable when the
    connection ends, and stops after ``close()``."""

    def __init__(self, client: AsyncClient, resource_id: str) -> None:
        self.resource_id, self._client, self._done = resource_id, client, False
        self.subscription: Optional[int] = None
        self._queue: Optional["asyncio.Queue[_Item]"] = None

    async def start(self) -> "AsyncWatch":
        """Subscribes (once); events are queued from the answer on."""
        if self._queue is None:
            q: "asyncio.Queue[_Item]" = asyncio.Queue()
            r = await self._client.call("watch", {"resource_id": self.resource_id},
                                        _on_result=lambda link, r: link.subs.__setitem__(int(r["subscription"]), q))
            self.subscription, self._queue = int(r["subscription"]), q
        return self

    def __aiter__(self) -> "AsyncWatch":
        return self

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        await self.start()
        item = await self._queue.get()  # type: ignore[union-attr]
        if isinstance(item, BaseException):
            self._done = True
            raise item
        if item is None:
            raise StopAsyncIteration
        return item

    async def next(self, timeout: Optional[float] = None) -> Event:
        """The next event; Timeout when none comes within ``timeout`` s (None: forever)."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except DhtregError:
            raise
        except asyncio.TimeoutError:
            raise Timeout(None, f"no event of {self.resource_id} within {timeout:g} s") from None

    async def close(self) -> None:
        """Ends the subscription (``unwatch``); iterating stops."""
        self._done, link, sub = True, self._client._link, self.subscription
        if link is not None and sub is not None and link.subs.get(sub) is self._queue:  # still subscribed here
            try:
                await self._client.unwatch(sub)
            except (NotFound, NodeUnavailable):
                pass
        if self._queue is not None:
            self._queue.put_nowait(None)

    __aenter__ = start

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


# ---- the blocking client: the asyncio one, run on an event loop of its own thread -----------
class _Loop:
    """An event loop on a daemon thread, which the blocking classes run their coroutines on."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs ``coro`` on the loop; returns its result or raises its exception."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self, last: Coroutine[Any, Any, Any]) -> None:
        """Runs ``last``, then stops the loop and the thread (from the loop's own thread, where
        nothing can wait for it: ``last``, then the loop's stop, are only scheduled)."""
        if threading.current_thread() is self.thread:
            asyncio.ensure_future(last, loop=self.loop).add_done_callback(lambda _: self.loop.stop())
            return
        try:
            self.run(last)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
            self.loop.close()


def _stop_left_open(held: "List[_Loop]", last: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    """The finalizer of a Client that was not closed: when it is collected, or at exit
    (weakref.finalize runs before the interpreter stops its daemon threads), its loop runs ``last()``
    and stops, so that no task is left pending for the interpreter to destroy."""
    if held:
        held.pop().stop(last())


def _blocking(f: "Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]") -> "Callable[Concatenate[Any, P], T]":
    """A blocking method that runs the coroutine method ``f`` of ``self._a`` on ``self._run``."""
    @functools.wraps(f)
    def method(__self: Any, *args: Any, **kw: Any) -> Any:
        return __self._run(f(__self._a, *args, **kw))
    return method


class Client:
    """A blocking client: an AsyncClient on an event loop of its own thread (threads may share it),
    so its methods are AsyncClient's, blocking, and ``watch`` subscribes on a connection of its own.
    Close it, or use it as a context manager."""

    def __init__(self, socket_path: Optional[str] = None, timeout: Optional[float] = 30.0,
                 socket_owner: Optional[str] = None) -> None:
        self._a = AsyncClient(socket_path, timeout, socket_owner)
        self.path, self.timeout, self.socket_owner = self._a.path, timeout, socket_owner
        self._held: List[_Loop] = []  # the loop while there is one; shared with the finalizer, not self
        self._lock = threading.Lock()
        weakref.finalize(self, _stop_left_open, self._held, self._a.close)

    @property
    def _loop(self) -> Optional[_Loop]:
        return self._held[0] if self._held else None

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if not self._held:
                self._held.append(_Loop("dhtreg-client"))
            loop = self._held[0]
        return loop.run(coro)

    def close(self) -> None:
        """Closes the connection and stops the thread (a later call starts both again). A client
        left open is closed so when it is collected, or at exit."""
        with self._lock:
            loop = self._held.pop() if self._held else None
        if loop is not None:
            loop.stop(self._a.close())

    def __enter__(self) -> "Client":
        self._run(self._a.connect())  # NodeUnavailable now, rather than at the first call
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def watch(self, resource_id: str, timeout: Optional[float] = None) -> "Watch":
        """Subscribes on a connection of its own: iterate the Watch (``timeout``: for each event)."""
        return Watch(self, resource_id, timeout)

    call = _blocking(AsyncClient.call)
    health = _blocking(AsyncClient.health)
    node_info = _blocking(AsyncClient.node_info)
    node_bootstrap = _blocking(AsyncClient.node_bootstrap)
    resource_id = _blocking(AsyncClient.resource_id)
    resource_create = _blocking(AsyncClient.resource_create)
    resource_get = _blocking(AsyncClient.resource_get)
    advertise = _blocking(AsyncClient.advertise)
    renew = _blocking(AsyncClient.renew)
    withdraw = _blocking(AsyncClient.withdraw)
    resolve = _blocking(AsyncClient.resolve)
    resolve_all = _blocking(AsyncClient.resolve_all)
    discover = _blocking(AsyncClient.discover)
    list = _blocking(AsyncClient.list)
    pin = _blocking(AsyncClient.pin)
    unpin = _blocking(AsyncClient.unpin)
    resolve_name = _blocking(AsyncClient.resolve_name)


class Watch:
    """The events of one subscription, on a connection (and thread) of its own: an iterator of
    Event (the first ones replay the records live already), and a context manager."""

    def __init__(self, client: Client, resource_id: str, timeout: Optional[float] = None) -> None:
        self.resource_id, self.timeout = resource_id, timeout
        self._c = Client(client.path, client.timeout, client.socket_owner)
        try:
            self._w = self._c._run(self._c._a.watch(resource_id).start())
        except BaseException:
            self._c.close()
            raise
        self.subscription = self._w.subscription

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        if self._c._loop is None:  # closed, or unwatched
            raise StopIteration
        return self.next(self.timeout)

    def next(self, timeout: Optional[float] = None) -> Event:
        """The next event; Timeout when none comes within ``timeout`` s (None: forever),
        NodeUnavailable when the node closes the connection."""
        return self._c._run(self._w.next(timeout))

    def unwatch(self) -> None:
        """Ends the subscription (``unwatch``) and closes the connection (``close()`` does only that)."""
        try:
            self._c._run(self._w.close())
        finally:
            self.close()

    def close(self) -> None:
        self._c.close()

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---- lease heartbeats ---------------------------------------------------------------------
class AsyncHeartbeat:
    """Keeps a ``lease: true`` record alive from an asyncio task: advertises it, renews it every
    ttl/3, and when the node forgot it (-32004: the node restarted) or the connection failed
    (node down), connects again with a short backoff and advertises it again. ``stop()``
    withdraws it; ``stop(withdraw=False)`` lets it expire at its TTL. The record's fields are
    those of ``advertise``; ``advertised`` is the last answer of advertise or renew.
    ``async with AsyncHeartbeat(rid, "web-1", host="10.0.0.5", port=8080, ttl=30): await serve()``"""

    def __init__(self, resource_id: str, service_id: str, *, ttl: int = 30, host: Optional[str] = None,
                 port: Optional[int] = None, addresses: Optional[Sequence[str]] = None, type: Optional[str] = None,
                 tags: Optional[Sequence[str]] = None, metadata: Optional[Dict[str, str]] = None,
                 socket_path: Optional[str] = None, socket_owner: Optional[str] = None, timeout: float = 10.0,
                 max_backoff: float = 5.0) -> None:
        self.resource_id, self.service_id, self.ttl, self.interval = resource_id, service_id, ttl, ttl / 3.0
        self.fields: Dict[str, Any] = dict(host=host, port=port, addresses=addresses, type=type, tags=tags,
                                           metadata=metadata, ttl=ttl, lease=True)
        self.advertised: Optional[Advertised] = None
        self.renewals = self.advertisements = 0
        self.last_error: Optional[DhtregError] = None
        self._client = AsyncClient(socket_path, timeout, socket_owner)
        self._max_backoff = min(max_backoff, self.interval)
        self._task: Optional["asyncio.Task[None]"] = None

    async def _advertise(self) -> Advertised:
        self.advertised = await self._client.advertise(self.resource_id, self.service_id, **self.fields)
        self.advertisements += 1
        return self.advertised

    async def start(self) -> Advertised:
        """Advertises the record (raising any error: a misconfigured service learns at once), then
        starts renewing it."""
        answer = await self._advertise()
        self._task = asyncio.ensure_future(self._beat())
        return answer

    async def _beat(self) -> None:
        """Renews every ttl/3; advertises again at once when the node forgot the lease (NotFound:
        it restarted), and after the connection failed, retrying with a backoff up to ttl/3."""
        delay, backoff, lost = self.interval, 0.1, False
        while True:
            await asyncio.sleep(delay)
            try:
                if lost:
                    await self._advertise()
                else:
                    self.advertised = await self._client.renew(self.resource_id, self.service_id)
                    self.renewals += 1
                delay, backoff, lost, self.last_error = self.interval, 0.1, False, None
            except NotFound as e:
                log.info("dhtreg heartbeat: %s/%s: %s; advertising again", self.resource_id, self.service_id, e)
                delay, lost, self.last_error = 0.0, True, e
            except DhtregError as e:
                log.warning("dhtreg heartbeat: %s/%s: %s; again in %.1f s", self.resource_id, self.service_id,
                            e, backoff)
                lost, self.last_error = lost or isinstance(e, NodeUnavailable), e
                delay, backoff = backoff, min(backoff * 2, self._max_backoff)

    async def stop(self, withdraw: bool = True) -> None:
        """Stops renewing; ``withdraw``: withdraws the record too (quietly when the node is down or
        has no such record), else it expires at its TTL."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            if withdraw:
                await self._client.withdraw(self.resource_id, self.service_id)
        except (NotFound, NodeUnavailable, Timeout) as e:
            log.info("dhtreg heartbeat: withdrawing %s: %s", self.service_id, e)
        finally:
            await self._client.close()

    async def __aenter__(self) -> "AsyncHeartbeat":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


class Heartbeat:
    """AsyncHeartbeat for blocking programs (the same arguments, attributes and behaviour), run
    on an event loop in a background thread: ``with Heartbeat(rid, "web-1", port=8080): serve()``"""

    @functools.wraps(AsyncHeartbeat.__init__)
    def __init__(self, resource_id: str, service_id: str, **kw: Any) -> None:
        self._a = AsyncHeartbeat(resource_id, service_id, **kw)
        self._loop: Optional[_Loop] = None

    def __getattr__(self, name: str) -> Any:  # resource_id, advertised, renewals, last_error...
        return getattr(self.__dict__.get("_a"), name)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        self._loop = self._loop or _Loop(f"dhtreg-heartbeat-{self._a.service_id}")
        return self._loop.run(coro)

    def start(self) -> Advertised:
        """Advertises the record (raising any error), then starts the thread."""
        try:
            return self._run(self._a.start())
        except BaseException:
            self.stop(withdraw=False)
            raise

    def stop(self, withdraw: bool = True) -> None:
        """Stops the thread; ``withdraw`` as in AsyncHeartbeat.stop."""
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.stop(self._a.stop(withdraw))

    def __enter__(self) -> "Heartbeat":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
