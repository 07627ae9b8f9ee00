"""Where the server and the load generator run, from the cores this process may use.

With 4 cores or more, the first half of the cores is the server's (a worker per core: a
system with W workers is pinned to the first W of them; Redis and PostgreSQL, not pinned,
find the rest of that half) and the second half the load side's, one load-generator process
per core (fewer when there are few subscribers to share). With 2 or 3 cores the suite keeps
its original layout: the server on the first core (both, for the scale-out scenarios), one
load process on the last; a figure for more than one worker is then a projection from CPU per
event, not a measured scale-out.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

# One load process above this share of its core may have set the figure, not the server.
LOAD_BOUND_PERCENT = 80.0
# Subscribers per load process below which another process is not worth starting.
SUBSCRIBERS_PER_LOAD_PROCESS = 250


@dataclass(frozen=True)
class Layout:
    cores: tuple[int, ...]

    @property
    def spread(self) -> bool:
        """Whether server workers and load processes each get cores of their own."""
        return len(self.cores) >= 4

    @property
    def server_cores(self) -> tuple[int, ...]:
        return self.cores[: len(self.cores) // 2] if self.spread else self.cores[:1]

    @property
    def load_cores(self) -> tuple[int, ...]:
        return self.cores[len(self.cores) // 2 :] if self.spread else self.cores[-1:]

    @property
    def max_workers(self) -> int:
        """The most workers a run may have: a core each when spread; 2 sharing both cores otherwise."""
        return len(self.server_cores) if self.spread else 2

    def server_cpus(self, workers: int, scenario_cpus: str) -> str:
        """The ``taskset`` list for a server of ``workers`` workers.

        ``scenario_cpus`` is the scenario's choice on a small machine ("0", or "0,1" for the
        scale-out scenarios that put the server on both cores); it is mapped onto the cores found.
        """
        if self.spread:
            return ",".join(str(core) for core in self.server_cores[:workers])
        wanted = [int(c) for c in scenario_cpus.split(",")]
        return ",".join(str(self.cores[min(i, len(self.cores) - 1)]) for i in wanted)

    def load_cpus(self, subscribers: int) -> list[str]:
        """One ``taskset`` list per load process."""
        count = min(len(self.load_cores), max(1, math.ceil(subscribers / SUBSCRIBERS_PER_LOAD_PROCESS)))
        return [str(core) for core in self.load_cores[:count]]

    def describe(self) -> str:
        if self.spread:
            return (
                f"{len(self.cores)} cores: server workers on cores {_cores(self.server_cores)} (one each), "
                f"load processes on {_cores(self.load_cores)} (one per core)"
            )
        return (
            f"{len(self.cores)} cores: server on core {self.cores[0]} (scale-out scenarios: on all), "
            f"load generator on core {self.cores[-1]}; figures for more than one worker are a projection "
            "(CPU per event), not a measured scale-out"
        )


def _cores(cores: tuple[int, ...]) -> str:
    return ",".join(str(core) for core in cores)


def machine_layout() -> Layout:
    """The cores this process may use, or ``BENCH_CORES`` (e.g. ``0,0,1,1``: try the spread
    layout, two load processes, on a 2-core machine; the figures then mean nothing)."""
    forced = os.environ.get("BENCH_CORES")
    if forced:
        return Layout(tuple(int(core) for core in forced.split(",")))
    return Layout(tuple(sorted(os.sched_getaffinity(0))))
