"""What URI-template selectors cost the fan-out: one process, no network.

N subscribers with K template selectors each, either all the same K templates (a page that
many people open) or each its own (a hostile client); then the time one update takes to be
matched and delivered to all of them (``Fanout.dispatch``), and the memory the subscribers
hold, before and after they disconnect.

    .venv/bin/python bench/templates.py [--subscribers 1000] [--templates 64] [--updates 200]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import os
import statistics
import tempfile
import time
from pathlib import Path

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "hubbub"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": tempfile.mktemp(suffix=".sqlite3")}},
    SECRET_KEY="bench-only-secret-key-0123456789abcdef0123456789",
)
django.setup()

from hubbub import _fanout as fanout  # noqa: E402
from hubbub._selectors import SelectorSet  # noqa: E402
from hubbub._subscriptions import Subscription  # noqa: E402
from hubbub._updates import Update  # noqa: E402


def rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def scenario(subscribers: int, templates: int, updates: int, shared: bool) -> dict[str, float]:
    hub = fanout.current()
    gc.collect()
    before = rss()
    subscriptions = []
    for n in range(subscribers):
        owner = "all" if shared else f"s{n}"
        selectors = [f"https://example.com/{owner}/t{k}/{{id}}" for k in range(templates)]
        subscription = Subscription(SelectorSet(selectors), SelectorSet(), 10**9)
        await hub.add(subscription)
        subscriptions.append(subscription)
    gc.collect()
    held = rss() - before
    timings = []
    for n in range(updates):
        update = Update.create(f"https://example.com/{'all' if shared else 's0'}/t{n % templates}/{n}", "x")
        start = time.perf_counter()
        hub.dispatch(update, n + 1)
        timings.append(time.perf_counter() - start)
    for subscription in subscriptions:
        subscription.close("done")
        await hub.remove(subscription)
    subscriptions.clear()
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # give freed memory back, so that RSS shows what is still held
    return {
        "dispatch_ms_median": statistics.median(timings) * 1000,
        "held_kb_per_subscriber": held / subscribers / 1024,
        "kept_kb_per_subscriber_after_disconnect": (rss() - before) / subscribers / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--templates", type=int, default=64)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--distinct", action="store_true", help="each subscriber its own templates")
    options = parser.parse_args()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    result = asyncio.run(scenario(options.subscribers, options.templates, options.updates, not options.distinct))
    kind = "distinct" if options.distinct else "shared"
    print(
        f"{options.subscribers} subscribers x {options.templates} {kind} templates: "
        + ", ".join(f"{key} {value:.2f}" for key, value in result.items())
    )


if __name__ == "__main__":
    main()
