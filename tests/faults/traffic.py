"""Traffic for the fault suite, and its tally against the hub's history.

Publishers POST updates with ids of their own and retry one whose outcome is unknown (the
connection broke, a timeout, a 5xx other than 503) with the same id, failing over to the
deployment's next server, until it is answered. Subscribers resume with ``Last-Event-ID``
whenever their stream ends, on the next server. Once the publishers stop, a last update
to every topic (the sentinel) marks the end: each subscriber reads until it has it.

The tally holds what each subscriber received against what the publishers were told and
what the history table (``hubbub_update``: ``seq``, ``uid``) holds:

- every update answered 200 is stored once and delivered to every subscriber that asked
  for one of its topics (and may read it, if private) exactly once, in history order;
- nothing answered 503 is stored or delivered;
- nothing reaches a subscriber that did not ask for it, or comes from another deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpx
import psycopg

from hubbub import _tokens as tokens
from hubbub._selectors import SelectorSet
from tests import servers
from tests.sse import subscribe

PUBLISH_TOKEN = tokens.mint(servers.PUBLISHER_KEY, publish=["*"])
# How long a publisher keeps retrying an update whose outcome is unknown before giving up.
RESOLVE_WITHIN = 20.0
# Outcomes of an attempt at which the request certainly did not reach a server.
REFUSED = ("ConnectError",)
# Bounds of the loops: updates per publisher, streams per subscriber.
MAX_UPDATES = 5000
MAX_STREAMS = 1000


@dataclass
class Publication:
    id: str
    topics: tuple[str, ...]
    private: bool
    data: str
    # (server index, HTTP status or the transport error's name) per attempt.
    attempts: list[tuple[int, int | str]] = field(default_factory=list)
    # The final answer: 200, 503 (at the first attempt that reached a server), another 4xx,
    # or None when it never became known.
    status: int | None = None

    @property
    def unknown(self) -> bool:
        """Whether an attempt had an unknown outcome (it may have been stored), so it was retried."""
        return any(_unknown(outcome) for _, outcome in self.attempts)

    def form(self) -> dict[str, object]:
        form: dict[str, object] = {"topic": list(self.topics), "data": self.data, "id": self.id}
        if self.private:
            form["private"] = "on"
        return form


def _unknown(outcome: int | str) -> bool:
    if isinstance(outcome, str):
        return outcome not in REFUSED
    return outcome >= 500 and outcome != 503


@dataclass
class Subscriber:
    name: str
    selectors: tuple[str, ...]
    # The subscriber JWT's mercure.subscribe claim (for private updates); None: anonymous.
    grants: tuple[str, ...] | None
    home: int  # the server it connects to first; it resumes on the next one
    received: list[str] = field(default_factory=list)
    # The id it resumes after: the last one received (the history is empty when a run
    # starts, so at first its beginning).
    last: str = "earliest"
    connections: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def wants(self, publication: Publication) -> bool:
        if not SelectorSet(self.selectors).match_any(publication.topics):
            return False
        return not publication.private or SelectorSet(self.grants or ()).match_any(publication.topics)

    def headers(self) -> dict[str, str]:
        if self.grants is None:
            return {}
        return {"Authorization": f"Bearer {tokens.mint(servers.SUBSCRIBER_KEY, subscribe=list(self.grants))}"}


class Traffic:
    """Publishers and resuming subscribers on the servers ``hubs`` of one deployment."""

    def __init__(self, name: str, hubs: list[str], *, publishers: int = 4, pace: float = 0.02) -> None:
        self.name = name
        self.hubs = hubs  # a test may replace a server's entry (a worker started again)
        self.prefix = f"urn:faults:{name}:"
        self.base = "https://example.com/faults/topics"
        self.topics = [f"{self.base}/{k}" for k in range(3)]
        self.publisher_count = publishers
        self.pace = pace
        self.publications: list[Publication] = []
        self.sentinel = Publication(f"{self.prefix}end", tuple(self.topics), False, "end")
        self.subscribers = default_subscribers(self.base, len(hubs))
        # Publication ids routed to a given server at their first attempt (see route()).
        self.routes: dict[str, int] = {}
        self._stop_publishing = asyncio.Event()
        self._stop_reading = asyncio.Event()
        self._progress = asyncio.Condition()
        self._publishers: list[asyncio.Task[None]] = []
        self._readers: list[asyncio.Task[None]] = []
        self.errors: list[str] = []  # what a publisher or subscriber task died of

    # Running

    async def start(self, connect_within: float = 10.0) -> None:
        """Open every subscriber's stream, then start the publishers."""
        self._readers = [asyncio.create_task(self._read(s)) for s in self.subscribers]
        async with asyncio.timeout(connect_within):
            for subscriber in self.subscribers:
                await subscriber.connected.wait()
        self._publishers = [asyncio.create_task(self._publish_loop(index)) for index in range(self.publisher_count)]

    def route(self, publication_id: str, server: int) -> None:
        """Send the update with this id to ``server`` first (other updates rotate over the servers)."""
        self.routes[publication_id] = server

    async def until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``condition()`` holds after some publish (False if not within ``timeout``)."""
        try:
            async with asyncio.timeout(timeout), self._progress:
                await self._progress.wait_for(condition)
            return True
        except TimeoutError:
            return False

    async def answered(self, count: int, status: int = 200, timeout: float = 15.0) -> bool:
        """Wait until ``count`` more updates than now are answered ``status``."""
        target = self.count(status) + count
        return await self.until(lambda: self.count(status) >= target, timeout)

    def count(self, status: int) -> int:
        return sum(1 for p in self.publications if p.status == status)

    def troubled(self) -> int:
        """How many updates so far were answered 503 or had an attempt with an unknown outcome."""
        return sum(1 for p in self.publications if p.status == 503 or p.unknown)

    async def finish(self, deliver_within: float = 10.0) -> None:
        """Stop the publishers (each finishes the update in hand), publish the sentinel, wait
        until every subscriber has it (or ``deliver_within``), then close the streams."""
        self._stop_publishing.set()
        await asyncio.gather(*self._publishers)
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                await self._publish(client, self.sentinel, 0)
            if self.sentinel.status == 200:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(deliver_within):
                        for subscriber in self.subscribers:
                            await subscriber.done.wait()
        finally:
            await self.stop()

    async def stop(self) -> None:
        self._stop_publishing.set()
        self._stop_reading.set()
        for task in self._publishers + self._readers:
            if not task.done():
                task.cancel()
        results = await asyncio.gather(*self._publishers, *self._readers, return_exceptions=True)
        self.errors += [repr(r) for r in results if isinstance(r, Exception)]

    # Publishers

    async def _publish_loop(self, index: int) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            for number in range(MAX_UPDATES):
                if self._stop_publishing.is_set():
                    return
                publication = self._publication(index, number)
                first = self.routes.get(publication.id, (index + number) % len(self.hubs))
                await self._publish(client, publication, first)
                # A publisher told 503 backs off a little before its next update.
                await asyncio.sleep(0.1 if publication.status == 503 else self.pace)

    def _publication(self, index: int, number: int) -> Publication:
        k = (index + number) % 3
        topics = (self.topics[k], self.topics[(k + 1) % 3]) if number % 5 == 4 else (self.topics[k],)
        publication = Publication(f"{self.prefix}p{index}-{number}", topics, number % 4 == 3, f"{index}/{number}")
        self.publications.append(publication)
        return publication

    async def _publish(self, client: httpx.AsyncClient, publication: Publication, server: int) -> None:
        """Publish until the answer is known: 200; 503 or a 4xx at the first attempt that
        reached a server; after an unknown outcome, only 200 (or a 4xx, which is wrong: the
        retry is the same update). Each retry goes to the next server."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RESOLVE_WITHIN
        headers = {"Authorization": f"Bearer {PUBLISH_TOKEN}"}
        while True:
            outcome: int | str
            try:
                response = await client.post(self.hubs[server], data=publication.form(), headers=headers)
                outcome = response.status_code
            except httpx.TransportError as error:
                outcome = type(error).__name__
            publication.attempts.append((server, outcome))
            if outcome == 200:
                assert response.text.strip() == publication.id, (publication.id, response.text)
            if isinstance(outcome, int) and (outcome < 500 or (outcome == 503 and not publication.unknown)):
                publication.status = outcome
            async with self._progress:
                self._progress.notify_all()
            if publication.status is not None or loop.time() > deadline:
                return
            server = (server + 1) % len(self.hubs)
            await asyncio.sleep(0.1)

    # Subscribers

    async def _read(self, subscriber: Subscriber) -> None:
        # No read timeout: a stream ends when the hub ends it (a client-side timeout would
        # resume, and so recover, streams that the hub should have ended itself).
        timeout = httpx.Timeout(5.0, read=None)
        async with httpx.AsyncClient(timeout=timeout) as client:
            for attempt in range(MAX_STREAMS):
                if self._stop_reading.is_set():
                    return
                hub = self.hubs[(subscriber.home + attempt) % len(self.hubs)]
                try:
                    await self._stream(client, subscriber, hub)
                except httpx.HTTPError as error:
                    subscriber.refusals[type(error).__name__] += 1
                if subscriber.done.is_set():
                    return
                await asyncio.sleep(0.05)

    async def _stream(self, client: httpx.AsyncClient, subscriber: Subscriber, hub: str) -> None:
        """Read one stream until it ends (or breaks: httpx raises)."""
        async with subscribe(
            hub, *subscriber.selectors, last_event_id=subscriber.last, headers=subscriber.headers(), client=client
        ) as stream:
            if stream.status != 200:
                subscriber.refusals[str(stream.status)] += 1
                return
            subscriber.connections += 1
            subscriber.connected.set()
            while not self._stop_reading.is_set():
                try:
                    event = await stream.next(timeout=0.5)
                except TimeoutError:
                    continue
                except EOFError:
                    break
                subscriber.received.append(event.id)
                subscriber.last = event.id
                if event.id == self.sentinel.id:
                    subscriber.done.set()
                    break

    # Tally

    def history(self, database_url: str) -> list[tuple[int, str]]:
        """(seq, uid) of this run's stored updates, in history order."""
        with psycopg.connect(database_url) as connection:
            rows = connection.execute(
                "SELECT seq, uid FROM hubbub_update WHERE uid LIKE %s ORDER BY seq", [self.prefix + "%"]
            ).fetchall()
        return [(seq, uid) for seq, uid in rows]

    def tally(self, history: Iterable[tuple[int, str]]) -> Tally:
        """What reached whom, against the history."""
        return Tally(self, list(history))

    def judge(self, database_url: str, report: Callable[[str], None]) -> None:
        """Report the run's figures, then fail on any broken promise."""
        tally = self.tally(self.history(database_url))
        report(tally.line)
        tally.check()


class Tally:
    """The run's figures, and the broken promises with examples."""

    def __init__(self, traffic: Traffic, history: list[tuple[int, str]]) -> None:
        self.name = traffic.name
        publications = [*traffic.publications, traffic.sentinel]
        seqs: dict[str, list[int]] = {}
        for seq, uid in history:
            seqs.setdefault(uid, []).append(seq)
        by_id = {p.id: p for p in publications}
        acked = [p for p in publications if p.status == 200]
        refused = [p for p in publications if p.status == 503]
        self.published = len(acked)
        self.unavailable = len(refused)
        self.retried = sum(1 for p in publications if p.unknown)
        self.errors = traffic.errors
        self.unknown_outcomes = Counter(str(o) for p in publications for _, o in p.attempts if _unknown(o))
        self.unresolved = [p.id for p in publications if p.status is None]
        self.rejected = [(p.id, p.status) for p in publications if p.status not in (None, 200, 503)]
        self.not_stored = [p.id for p in acked if p.id not in seqs]
        self.stored_twice = [p.id for p in publications if len(seqs.get(p.id, ())) > 1]
        self.unavailable_stored = [p.id for p in refused if p.id in seqs]
        self.deliveries = 0
        self.resumes = sum(max(subscriber.connections - 1, 0) for subscriber in traffic.subscribers)
        self.lost: list[tuple[str, str]] = []
        self.duplicated: list[tuple[str, str]] = []
        self.out_of_order: list[tuple[str, str]] = []
        self.unavailable_delivered: list[tuple[str, str]] = []
        self.unwanted: list[tuple[str, str]] = []
        self.crossed: list[tuple[str, str]] = []
        order = {uid: found[0] for uid, found in seqs.items()}
        for subscriber in traffic.subscribers:
            received = subscriber.received
            self.deliveries += len(received)
            counts = Counter(received)
            self.duplicated += [(subscriber.name, uid) for uid, n in counts.items() for _ in range(n - 1)]
            newest = 0
            for uid in dict.fromkeys(received):  # first receipts, in the order received
                publication = by_id.get(uid)
                if publication is None:
                    self.crossed.append((subscriber.name, uid))
                    continue
                if publication.status == 503:
                    self.unavailable_delivered.append((subscriber.name, uid))
                if not subscriber.wants(publication):
                    self.unwanted.append((subscriber.name, uid))
                seq = order.get(uid)
                if seq is None:
                    continue
                if seq < newest:
                    self.out_of_order.append((subscriber.name, uid))
                newest = max(newest, seq)
            self.lost += [(subscriber.name, p.id) for p in acked if subscriber.wants(p) and p.id not in counts]

    @property
    def line(self) -> str:
        line = (
            f"{self.name}: published (200) {self.published}, 503 {self.unavailable}, "
            f"unknown+retried {self.retried}, deliveries {self.deliveries}, lost {len(self.lost)}, "
            f"duplicated {len(self.duplicated)}, out of order {len(self.out_of_order)}"
        )
        extra = {
            "stored twice": len(self.stored_twice),
            "200 not stored": len(self.not_stored),
            "503 stored": len(self.unavailable_stored),
            "503 delivered": len(self.unavailable_delivered),
            "unresolved": len(self.unresolved),
            "refused retry": len(self.rejected),
            "not asked for": len(self.unwanted),
            "from elsewhere": len(self.crossed),
            "task errors": len(self.errors),
        }
        shown = [f"{name} {count}" for name, count in extra.items() if count] + [f"resumes {self.resumes}"]
        if self.unknown_outcomes:
            shown.append("unknown outcomes: " + ", ".join(f"{o} {n}" for o, n in self.unknown_outcomes.most_common()))
        return line + ("; " + ", ".join(shown) if shown else "")

    def problems(self) -> list[str]:
        checks = [
            ("answered 200 but not delivered to a subscriber that asked for it", self.lost),
            ("delivered more than once", self.duplicated),
            ("delivered out of history order", self.out_of_order),
            ("answered 200 but not in the history", self.not_stored),
            ("stored more than once (a retry stored a second copy)", self.stored_twice),
            ("answered 503 but stored", self.unavailable_stored),
            ("answered 503 but delivered", self.unavailable_delivered),
            ("a retry of the same update was refused", self.rejected),
            ("outcome never known within the retry deadline", self.unresolved),
            ("delivered to a subscriber that did not ask for it or may not read it", self.unwanted),
            ("delivered from another deployment or never published", self.crossed),
            ("publisher or subscriber tasks failed", self.errors),
        ]
        return [f"{len(found)} {what}, e.g. {found[:3]}" for what, found in checks if found]

    def check(self) -> None:
        problems = self.problems()
        assert not problems, self.line + "\n" + "\n".join(problems)


def default_subscribers(base: str, servers: int) -> list[Subscriber]:
    """Six subscribers spread over the servers: exact topics, a pair, a URI template, and two
    with a JWT for private updates."""
    t0, t1, t2, every = f"{base}/0", f"{base}/1", f"{base}/2", base + "/{k}"
    specs = [
        ("exact-0", (t0,), None),
        ("exact-1", (t1,), None),
        ("pair-0-2", (t0, t2), None),
        ("template", (every,), None),
        ("private-1", (t1,), (t1,)),
        ("private-all", (every,), (every,)),
    ]
    return [
        Subscriber(name, selectors, grants, home=index % servers)
        for index, (name, selectors, grants) in enumerate(specs)
    ]
