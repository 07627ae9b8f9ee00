"""The scenarios: how many subscribers, what is published, and which systems take part."""

from __future__ import annotations

from dataclasses import dataclass

FANOUT_SYSTEMS = [
    "ceiling",
    "nchan",
    "hubbub-embedded",
    "hubbub-redis",
    "hubbub-embedded-ws",
    "hubbub-redis-ws",
    "hubbub-embedded-granian",
    "hubbub-embedded-daphne",
    "channels-redis",
    "channels-memory",
    "eventstream",
    "polling",
]
# Run where the machine has a server core per worker (bench/layout.py); on 2 cores, 1 and 2 workers.
SCALE_OUT_SYSTEMS = ("hubbub-redis", "hubbub-redis-2w", "hubbub-redis-4w", "hubbub-redis-8w")
# The sustainable-throughput sweep: nchan and Hubbub on Redis with each worker count the cores allow.
SUSTAINABLE_SYSTEMS = ("nchan", *SCALE_OUT_SYSTEMS)
# Publishes/s tried by the full sweep (× 1,000 subscribers per topic = deliveries/s): ×1.25 a step.
SWEEP_RATES = tuple(round(10 * 1.25**k) for k in range(30) if 10 * 1.25**k <= 8000)
THROUGHPUT_SYSTEMS = ["ceiling", "hubbub-embedded", "hubbub-redis", "channels-redis", "channels-memory", "eventstream"]


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    mode: str  # "paced", "max", "idle" or "sweep"
    subscribers: int
    systems: tuple[str, ...]
    topics: int = 1
    updates: int = 0
    rate: float = 10.0
    duration: float = 0.0
    publishers: int = 8
    idle_seconds: float = 0.0
    server_cpus: str = "0"
    connect_timeout: float = 120.0
    # mode "sweep": the publish rates tried in turn, each for step_seconds, until a step fails
    rates: tuple[float, ...] = ()
    step_seconds: float = 5.0
    p99_limit_ms: float = 100.0

    def config(self, subscribers: int) -> dict:
        topics = [f"room-{i}" for i in range(self.topics)]
        return {
            "mode": self.mode,
            "subscribers": subscribers,
            "topics": topics,
            "publish_topics": topics,
            "updates": self.updates,
            "rate": self.rate,
            "duration": self.duration,
            "publishers": self.publishers,
            "idle_seconds": self.idle_seconds,
            "connect_timeout": self.connect_timeout,
            "rates": list(self.rates),
            "step_seconds": self.step_seconds,
        }


def scenarios(quick: bool) -> list[Scenario]:
    if quick:
        return [
            Scenario("fanout", "300 subscribers × 10 updates at 10/s", "paced", 300, tuple(FANOUT_SYSTEMS), updates=10),
            Scenario(
                "fanout-10k",
                "2,000 subscribers × 3 updates at 1/s",
                "paced",
                2000,
                ("ceiling", "nchan", "hubbub-embedded", "hubbub-redis", "hubbub-embedded-ws", "hubbub-redis-ws"),
                updates=3,
                rate=1.0,
            ),
            Scenario(
                "idle",
                "300 idle subscribers for 2 s, then 1 update",
                "idle",
                300,
                tuple(FANOUT_SYSTEMS),
                updates=1,
                idle_seconds=2.0,
            ),
            Scenario(
                "publish-max",
                "publish as fast as possible for 2 s, 300 subscribers on 30 topics",
                "max",
                300,
                tuple(THROUGHPUT_SYSTEMS),
                topics=30,
                duration=2.0,
            ),
            Scenario(
                "scale-out",
                "publish as fast as possible for 2 s, 300 subscribers on 30 topics, "
                "1 vs 2 workers (server on both cores)",
                "max",
                300,
                SCALE_OUT_SYSTEMS,
                topics=30,
                duration=2.0,
                server_cpus="0,1",
            ),
            Scenario(
                "sustainable",
                "2,000 subscribers on 8 topics, paced publishing at rising rates (2 s steps) until p99 > 100 ms",
                "sweep",
                2000,
                SUSTAINABLE_SYSTEMS,
                topics=8,
                publishers=16,
                rates=(20, 40, 80, 160, 320, 640, 1280),
                step_seconds=2.0,
                server_cpus="0,1",
            ),
            Scenario(
                "scale-out-fanout",
                "600 subscribers on 3 topics, 100 updates at 20/s, 1 vs 2 workers (server on both cores)",
                "paced",
                600,
                SCALE_OUT_SYSTEMS,
                topics=3,
                updates=100,
                rate=20.0,
                server_cpus="0,1",
            ),
        ]
    return [
        Scenario("fanout", "1,000 subscribers × 20 updates at 10/s", "paced", 1000, tuple(FANOUT_SYSTEMS), updates=20),
        Scenario(
            "fanout-10k",
            "10,000 subscribers × 10 updates at 1/s",
            "paced",
            10_000,
            (
                "ceiling",
                "nchan",
                "hubbub-embedded",
                "hubbub-redis",
                "hubbub-embedded-ws",
                "hubbub-redis-ws",
                "channels-redis",
            ),
            updates=10,
            rate=1.0,
            connect_timeout=180.0,
        ),
        Scenario(
            "idle",
            "1,000 idle subscribers for 10 s, then 1 update",
            "idle",
            1000,
            tuple(FANOUT_SYSTEMS),
            updates=1,
            idle_seconds=10.0,
        ),
        Scenario(
            "publish-max",
            "publish as fast as possible for 10 s, 1,000 subscribers on 100 topics",
            "max",
            1000,
            tuple(THROUGHPUT_SYSTEMS),
            topics=100,
            duration=10.0,
        ),
        Scenario(
            "scale-out",
            "publish as fast as possible for 10 s from 64 connections, 1,000 subscribers on 100 topics, "
            "1 vs 2 workers (server on both cores)",
            "max",
            1000,
            SCALE_OUT_SYSTEMS,
            topics=100,
            duration=10.0,
            # Issue 12's measurement: enough publishers that each of 8 workers has several to batch.
            publishers=64,
            server_cpus="0,1",
        ),
        Scenario(
            "sustainable",
            "8,000 subscribers on 8 topics, paced publishing at rising rates (5 s steps) until p99 > 100 ms",
            "sweep",
            8000,
            SUSTAINABLE_SYSTEMS,
            topics=8,
            publishers=16,
            rates=SWEEP_RATES,
            step_seconds=5.0,
            server_cpus="0,1",
            connect_timeout=180.0,
        ),
        Scenario(
            "scale-out-fanout",
            "2,000 subscribers on 10 topics, 400 updates at 40/s, 1 vs 2 workers (server on both cores)",
            "paced",
            2000,
            SCALE_OUT_SYSTEMS,
            topics=10,
            updates=400,
            rate=40.0,
            server_cpus="0,1",
        ),
    ]


POLLING_SUBSCRIBERS = {False: 200, True: 100}
