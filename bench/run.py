"""Run the benchmark suite: every scenario against every system, one server at a time.

    .venv/bin/python bench/run.py                 # the full run (~7 min)
    .venv/bin/python bench/run.py --quick         # a smoke run (~2 min)
    .venv/bin/python bench/run.py --scenario fanout --system ceiling --system hubbub-embedded
    .venv/bin/python bench/run.py --profile       # + py-spy profiles of Hubbub under "fanout"

On 2 cores the server runs on core 0 (``taskset -c 0``), the load generator on core 1; with 4
or more, the server's workers and several load processes get cores of their own
(``bench/layout.py``). Results go to
``bench/results/``: ``latest.json``, ``latest.md``, ``latency.png`` (and timestamped copies).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import queue
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report
from bench.layout import LOAD_BOUND_PERCENT, Layout, machine_layout
from bench.loadgen import quantile, rss_kb
from bench.scenarios import POLLING_SUBSCRIBERS, Scenario, scenarios
from bench.systems import PYTHON, ROOT, System, all_systems

RESULTS = ROOT / "bench" / "results"


def run_one(
    system: System, scenario: Scenario, quick: bool, profile_to: Path | None = None, layout: Layout | None = None
) -> dict:
    layout = layout or machine_layout()
    subscribers = scenario.subscribers
    if system.max_subscribers is not None:
        subscribers = min(subscribers, POLLING_SUBSCRIBERS[quick])
    config = scenario.config(subscribers)
    if not system.has_topics:
        config["topics"] = config["publish_topics"] = ["room-0"]
    server_cpus = layout.server_cpus(system.workers, scenario.server_cpus)
    load_cpus = layout.load_cpus(subscribers)
    running = system.start(server_cpus)
    config.update(
        {
            "host": "127.0.0.1",
            "port": running.port,
            "server_pids": [running.pid],
            "subscribe_path": system.subscribe_path,
            "publish_path": system.publish_path,
            "authorization": system.authorization,
            "transport": system.transport,
            "ws_path": system.ws_path,
            "publish_body": system.publish_body,
            "processes": len(load_cpus),
        }
    )
    loadgens = [
        subprocess.Popen(
            [
                "taskset",
                "-c",
                cpus,
                PYTHON,
                str(ROOT / "bench" / "loadgen.py"),
                json.dumps(share_of(config, index, len(load_cpus))),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for index, cpus in enumerate(load_cpus)
    ]
    profiler: subprocess.Popen | None = None
    results: list[dict | None] = [None] * len(loadgens)
    rss_after: int | None = None
    try:
        messages: queue.Queue[tuple[int, str | None]] = queue.Queue()
        for index, loadgen in enumerate(loadgens):
            threading.Thread(target=forward, args=(index, loadgen, messages), daemon=True).start()
        ready: set[int] = set()
        published: dict[int, dict] = {}
        step_parts: dict[int, dict] = {}
        steps: list[dict] = []
        open_streams = len(loadgens)
        while open_streams:
            index, line = messages.get()
            if line is None:
                open_streams -= 1
                continue
            message = json.loads(line)
            event = message["event"]
            if event == "ready":
                ready.add(index)
                if len(ready) == len(loadgens):
                    rss_after = rss_kb([running.pid])
                    if profile_to is not None:
                        profiler = start_profiler(running.pid, profile_to, load_cpus[0])
                    tell(loadgens, "go")
            elif event == "published":
                published[index] = message["published_by_topic"]
                if len(published) == len(loadgens):
                    union: dict[str, list[int]] = {}
                    for part in published.values():
                        for topic, numbers in part.items():
                            union.setdefault(topic, []).extend(numbers)
                    tell(loadgens, json.dumps(union))
                    published.clear()
            elif event == "step":
                step_parts[index] = message["step"]
                if len(step_parts) == len(loadgens):
                    step = merge_step([step_parts[i] for i in sorted(step_parts)], scenario.p99_limit_ms)
                    step_parts.clear()
                    steps.append(step)
                    print("    " + report.step_line(step), flush=True)
                    tell(loadgens, "continue" if step["pass"] else "stop")
            elif event == "phase" and message["phase"] == "drained" and profiler is not None and index == 0:
                stop_profiler(profiler)
                profiler = None
            elif event == "result":
                results[index] = message["result"]
            elif event == "phase" and message["phase"] == "connected":
                if len(loadgens) == 1:
                    print(f"    connected {message['connected']}/{subscribers} in {message['seconds']} s", flush=True)
        for loadgen in loadgens:
            loadgen.wait(timeout=60)
    finally:
        if profiler is not None:
            stop_profiler(profiler)
        for loadgen in loadgens:
            if loadgen.poll() is None:
                loadgen.kill()
                loadgen.wait()
        running.stop()
    if any(result is None for result in results):
        codes = [loadgen.returncode for loadgen in loadgens]
        raise RuntimeError(f"a load generator ended with {codes} and no result; server log: {running.log}")
    if scenario.mode == "sweep":
        result = sweep_result([r for r in results if r is not None], rss_after, steps)
    else:
        result = merge([r for r in results if r is not None], rss_after)
    if len(loadgens) > 1:
        print(f"    connected {result['connected']}/{subscribers} over {len(loadgens)} load processes", flush=True)
    result.update(
        {
            "system": system.name,
            "label": system.label,
            "scenario": scenario.name,
            "mode": scenario.mode,
            "workers": system.workers,
            "server_cpus": server_cpus,
            "load_cpus": load_cpus,
            "layout_spread": layout.spread,
            "load_average": load_average(),
        }
    )
    return result


def forward(index: int, loadgen: subprocess.Popen, messages: queue.Queue) -> None:
    """A load process's stdout lines onto the run's queue, then None once it closes."""
    assert loadgen.stdout is not None
    for line in loadgen.stdout:
        messages.put((index, line))
    messages.put((index, None))


def share_of(config: dict, index: int, processes: int) -> dict:
    """Load process ``index``'s part of the run: every ``processes``-th subscriber and, when
    publishing as fast as possible, its share of the publishers (paced: process 0 publishes)."""
    share = dict(config, process_index=index)
    share["subscribers"] = len(range(index, config["subscribers"], processes))
    if config["mode"] == "max":
        share["publishers"] = len(range(index, config.get("publishers", 8), processes))
    return share


def tell(loadgens: list[subprocess.Popen], line: str) -> None:
    for loadgen in loadgens:
        assert loadgen.stdin is not None
        loadgen.stdin.write(line + "\n")
        loadgen.stdin.flush()


def merge_step(parts: list[dict], p99_limit_ms: float) -> dict:
    """One sweep step from the load processes' parts, and its verdict: every update published
    on time (≥ 95% of the rate), all delivered once, p99 within the limit."""
    step = {"rate": parts[0]["rate"], "target": parts[0]["target"]}
    for key in ("published", "publish_errors", "expected", "delivered", "lost", "duplicates"):
        step[key] = sum(part[key] for part in parts)
    step["publish_seconds"] = max(part["publish_seconds"] for part in parts)
    latencies_ms = sorted(value / 1e6 for part in parts for value in part["latencies_ns"])
    step["latency_ms"] = {
        "p50": quantile(latencies_ms, 0.5),
        "p99": quantile(latencies_ms, 0.99),
        "max": latencies_ms[-1] if latencies_ms else None,
    }
    window = max(1e-9, (max(p["last_delivery_ns"] for p in parts) - min(p["started_ns"] for p in parts)) / 1e9)
    server_cpu = max(p["server_cpu_at_last"] for p in parts) - min(p["server_cpu_before"] for p in parts)
    step["publishes_per_s"] = step["published"] / step["publish_seconds"] if step["publish_seconds"] else 0.0
    step["deliveries_per_s"] = step["delivered"] / max(step["publish_seconds"], 1e-9)
    step["cpu_us_per_event"] = 1e6 * server_cpu / step["delivered"] if step["delivered"] else None
    step["loadgen_cpu_percent_by_process"] = [100 * p["loadgen_cpu_s"] / window for p in parts]
    step["loadgen_load_bound"] = max(step["loadgen_cpu_percent_by_process"]) > LOAD_BOUND_PERCENT
    p99 = step["latency_ms"]["p99"]
    reasons = []
    if step["published"] < 0.95 * step["target"] or step["publishes_per_s"] < 0.95 * step["rate"]:
        reasons.append(f"published {step['publishes_per_s']:,.0f}/s of {step['rate']:,.0f}/s")
    if step["lost"] or step["publish_errors"]:
        reasons.append(f"{step['lost']:,} lost, {step['publish_errors']} publish errors")
    if step["duplicates"]:
        reasons.append(f"{step['duplicates']:,} duplicates")
    if p99 is None or p99 > p99_limit_ms:
        reasons.append(f"p99 {p99 or 0:,.1f} ms > {p99_limit_ms:.0f} ms")
    step["pass"] = not reasons
    step["why"] = "; ".join(reasons)
    return step


def sweep_result(results: list[dict], rss_after: int | None, steps: list[dict]) -> dict:
    """The sweep's result: the connection figures, every step, and the highest passing step's
    figures as the run's own (so the common table shows the sustainable rate)."""
    result = dict(results[0])
    result["subscribers"] = sum(r["subscribers"] for r in results)
    result["connected"] = sum(r["connected"] for r in results)
    result["connect_seconds"] = max(r["connect_seconds"] for r in results)
    if len(results) > 1 and rss_after is not None:
        rss_before = min(r["rss_before_kb"] for r in results)
        result["rss_per_conn_kb"] = (rss_after - rss_before) / max(1, result["connected"])
    result["steps"] = steps
    passed = [step for step in steps if step["pass"]]
    best = passed[-1] if passed else None
    failed = next((step for step in steps if not step["pass"]), None)
    result["sustainable_publishes_per_s"] = best["rate"] if best else 0.0
    result["sustainable_deliveries_per_s"] = best["deliveries_per_s"] if best else 0.0
    result["sweep_stopped_by"] = (
        f"{failed['rate']:,.0f}/s: {failed['why']}" if failed else "the last rate passed (raise the rates)"
    )
    shown = best or (steps[0] if steps else None)
    empty = {"p50": None, "p99": None, "max": None}
    result.update(
        {
            "expected": shown["expected"] if shown else 0,
            "delivered": shown["delivered"] if shown else 0,
            "lost": sum(step["lost"] for step in passed),
            "duplicates": sum(step["duplicates"] for step in passed),
            "unexpected": 0,
            "ended_early": 0,
            "latency_ms": shown["latency_ms"] if shown else empty,
            "cpu_us_per_event": shown["cpu_us_per_event"] if shown else None,
            "publishes_per_s": result["sustainable_publishes_per_s"],
            "events_per_s": result["sustainable_deliveries_per_s"],
            "loadgen_cpu_percent_by_process": shown["loadgen_cpu_percent_by_process"] if shown else [],
            "loadgen_cpu_percent": max(shown["loadgen_cpu_percent_by_process"]) if shown else None,
            "loadgen_load_bound": any(step["loadgen_load_bound"] for step in passed),
        }
    )
    return result


SUMMED = ("subscribers", "connected", "delivered", "expected", "lost", "duplicates", "unexpected", "ended_early")


def merge(results: list[dict], rss_after: int | None) -> dict:
    """One result from the load processes' results: counts summed, latencies pooled, the
    server's CPU from the first reading before publishing to the last at a delivery, and each
    load process's own CPU kept (``loadgen_cpu_percent`` is the busiest one's)."""
    for result in results:
        result["loadgen_load_bound"] = (result.get("loadgen_cpu_percent") or 0) > LOAD_BOUND_PERCENT
    if len(results) == 1:
        result = results[0]
        result["loadgen_cpu_percent_by_process"] = [result.get("loadgen_cpu_percent")]
        return result
    first = results[0]
    merged = dict(first)
    for key in SUMMED:
        merged[key] = sum(r.get(key, 0) for r in results)
    for key in ("published", "publish_errors"):
        merged[key] = sum(r.get(key, 0) for r in results)
    merged["publish_seconds"] = max(r.get("publish_seconds", 0.0) for r in results)
    merged["publishes_per_s"] = merged["published"] / merged["publish_seconds"] if merged["publish_seconds"] else 0.0
    merged["connect_seconds"] = max(r["connect_seconds"] for r in results)
    merged["connect_errors"] = sorted({e for r in results for e in r.get("connect_errors", [])})[:5]
    rss_before = min(r["rss_before_kb"] for r in results)
    merged["rss_before_kb"] = rss_before
    merged["rss_after_kb"] = rss_after if rss_after is not None else max(r["rss_after_kb"] for r in results)
    merged["rss_per_conn_kb"] = (merged["rss_after_kb"] - rss_before) / max(1, merged["connected"])
    started_ns = min(r["started_ns"] for r in results)
    last_ns = max(r["last_delivery_ns"] for r in results)
    merged["server_cpu_s"] = max(r["server_cpu_at_last"] for r in results) - min(
        r["server_cpu_before"] for r in results
    )
    merged["deliver_seconds"] = max(1e-9, (last_ns - started_ns) / 1e9) if merged["delivered"] else 0.0
    merged["events_per_s"] = merged["delivered"] / merged["deliver_seconds"] if merged["deliver_seconds"] else 0.0
    merged["cpu_us_per_event"] = 1e6 * merged["server_cpu_s"] / merged["delivered"] if merged["delivered"] else None
    by_process = [r.get("loadgen_cpu_percent") for r in results]
    merged["loadgen_cpu_percent_by_process"] = by_process
    merged["loadgen_cpu_percent"] = max((p for p in by_process if p is not None), default=None)
    merged["loadgen_load_bound"] = any(r["loadgen_load_bound"] for r in results)
    latencies_ms = sorted(value / 1e6 for r in results for value in r.pop("latencies_ns", []))
    merged.pop("latencies_ns", None)
    merged["latency_ms"] = {
        "p50": quantile(latencies_ms, 0.5),
        "p99": quantile(latencies_ms, 0.99),
        "max": latencies_ms[-1] if latencies_ms else None,
    }
    merged["latency_quantiles_ms"] = [quantile(latencies_ms, i / 200) for i in range(201)] if latencies_ms else []
    if first.get("mode") == "paced" or "slowest_delivery_ms_by_update" in first:
        slowest: dict[int, int] = {}
        for r in results:
            for n, value in r.pop("slowest_ns_by_update", {}).items():
                slowest[int(n)] = max(slowest.get(int(n), 0), value)
        merged["slowest_delivery_ms_by_update"] = [round(slowest[n] / 1e6, 1) for n in sorted(slowest)]
    merged.pop("slowest_ns_by_update", None)
    return merged


def load_average() -> float:
    """The machine's 1-minute load average: other work on these 2 cores shows up in latency."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def start_profiler(pid: int, output: Path, cpus: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            "taskset",
            "-c",
            cpus,
            shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--rate",
            "1000",
            "--function",
            "--nonblocking",
            "--format",
            "raw",
            "-o",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # py-spy attaches before the first update is published
    return process


def stop_profiler(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        _, errors = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, errors = process.communicate()
    if process.returncode not in (0, -signal.SIGINT):
        print(f"    py-spy ended with {process.returncode}: {errors.strip()[-500:]}", flush=True)


# Frames every sample of a thread passes through: they say nothing about where the time goes.
OUTER_FRAMES = (
    "<module> (manage.py",
    "execute_from_command_line ",
    "ManagementUtility.execute ",
    "BaseCommand.",
    "Command.handle (hubbub/management/commands/serve.py",
    "run (uvicorn/main.py",
    "Server.run (uvicorn/server.py",
    "asyncio_run (uvicorn/_compat.py",
    "Runner.run (asyncio/runners.py",
    "Thread._bootstrap",
    "Thread.run (threading.py",
    "_worker (concurrent/futures/thread.py",
)


def top_frames(raw: Path, limit: int = 25) -> dict:
    """Self and inclusive sample counts per function from py-spy's collapsed stacks.

    The inclusive list leaves out the outer frames (``OUTER_FRAMES``); the self list keeps
    them: self time in ``Runner.run`` is time spent inside the event loop's C code (uvloop:
    polling, socket writes, callbacks) with no Python frame above it.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue  # a sample py-spy could not read whole (--nonblocking)
        count = int(count_text)
        frames = stack.split(";")[1:]  # the first entry names the process/thread
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return {
        "samples": total,
        "self": [(frame, count, 100 * count / total) for frame, count in own.most_common(limit)],
        "inclusive": [
            (frame, count, 100 * count / total)
            for frame, count in inclusive.most_common()
            if not frame.startswith(OUTER_FRAMES)
        ][:limit],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer subscribers and shorter phases (~2 min)")
    parser.add_argument("--scenario", action="append", help="run only this scenario (repeatable)")
    parser.add_argument("--system", action="append", help="run only this system (repeatable)")
    parser.add_argument(
        "--profile", action="store_true", help="also profile Hubbub with py-spy (under --profile-scenario)"
    )
    parser.add_argument(
        "--profile-scenario",
        default="fanout",
        help="the scenario(s) the profiles run under, comma-separated (default: fanout)",
    )
    parser.add_argument("--profile-only", action="store_true", help="only the py-spy profiles")
    parser.add_argument(
        "--profile-updates",
        type=int,
        default=100,
        help="updates published in a profiled paced run "
        "(same subscribers and rate; more samples than the scenario's own count)",
    )
    args = parser.parse_args()

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    RESULTS.mkdir(parents=True, exist_ok=True)
    systems = all_systems()
    chosen = [s for s in scenarios(args.quick) if not args.scenario or s.name in args.scenario]
    if args.profile_only:
        chosen = []
    unknown = set(args.system or ()) - set(systems)
    if unknown:
        parser.error(f"unknown system(s) {', '.join(sorted(unknown))}; known: {', '.join(systems)}")
    layout = machine_layout()
    print(f"layout: {layout.describe()}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="hubbub-bench-"))
    started = datetime.now(UTC)
    results: list[dict] = []
    profiles: dict[str, dict] = {}
    prepared: set[str] = set()

    def prepared_system(name: str) -> System:
        system = systems[name]
        if name not in prepared:
            system.prepare(workdir)
            prepared.add(name)
        return system

    def profile(scenario_name: str) -> None:
        target = next(s for s in scenarios(args.quick) if s.name == scenario_name)
        if target.mode == "paced":
            target = dataclasses.replace(target, updates=args.profile_updates)
        for name in ("hubbub-embedded", "hubbub-redis", "hubbub-embedded-ws", "hubbub-redis-ws"):
            if (args.system and name not in args.system) or (not args.system and name.endswith("-ws")):
                continue
            print(f"== profile: {name} under {target.name}", flush=True)
            raw = RESULTS / f"profile-{name}-{target.name}.txt"
            result = run_one(prepared_system(name), target, args.quick, profile_to=raw, layout=layout)
            print("    " + report.one_line(result) + " (profiled: figures perturbed)", flush=True)
            profiles[f"{name} under {target.name}"] = {
                "run": {
                    k: result.get(k) for k in ("cpu_us_per_event", "delivered", "expected", "publishes_per_s", "mode")
                },
                **top_frames(raw),
            }

    try:
        for scenario in chosen:
            print(f"== {scenario.name}: {scenario.title}", flush=True)
            for name in scenario.systems:
                if args.system and name not in args.system:
                    continue
                if systems[name].workers > layout.max_workers:
                    workers = systems[name].workers
                    print(f"  -- {name}: skipped, {workers} workers need as many server cores", flush=True)
                    continue
                print(f"  -- {name}", flush=True)
                begun = time.monotonic()
                try:
                    result = run_one(prepared_system(name), scenario, args.quick, layout=layout)
                except Exception as error:
                    print(f"    FAILED: {error}", flush=True)
                    result = {
                        "system": name,
                        "label": systems[name].label,
                        "scenario": scenario.name,
                        "error": str(error)[:2000],
                    }
                else:
                    print("    " + report.one_line(result) + f" ({time.monotonic() - begun:.0f} s)", flush=True)
                results.append(result)
        document = {
            "started": started.isoformat(timespec="seconds"),
            "quick": args.quick,
            "host": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "layout": {
                "cores": list(layout.cores),
                "spread": layout.spread,
                "server_cores": list(layout.server_cores),
                "load_cores": list(layout.load_cores),
                "description": layout.describe(),
            },
            "scenarios": {s.name: s.title for s in chosen},
            "results": results,
        }
        stamp = started.strftime("%Y%m%d-%H%M%S")
        save(document, profiles, stamp)
        if args.profile or args.profile_only:
            for target_name in args.profile_scenario.split(","):
                try:
                    profile(target_name)
                except Exception as error:
                    print(f"    profile under {target_name} FAILED: {error}", flush=True)
            save(document, profiles, stamp, tables=False)
    finally:
        for name in prepared:
            systems[name].cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def save(document: dict, profiles: dict, stamp: str, *, tables: bool = True) -> None:
    """Write the results (and profiles, when there are any) and print the tables."""
    results = document["results"]
    document["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    document["targets"] = report.targets(results)
    document["profiles"] = profiles
    if results:
        markdown = report.markdown(document)
        for name in ("latest", stamp):
            (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=1))
            (RESULTS / f"{name}.md").write_text(markdown)
        report.plot(document, RESULTS / "latency.png")
        shutil.copy(RESULTS / "latency.png", RESULTS / f"latency-{stamp}.png")
    if results and tables:
        print()
        print(report.text_table(document))
        print()
        if report.sweep_markdown(document):
            print("Sustainable throughput (rate sweep):")
            print(report.sweep_markdown(document))
            print()
        print(report.load_bound_text(document))
        print(f"Layout: {document['layout']['description']}")
        print()
        print(report.targets_text(document))
    if profiles:
        (RESULTS / f"profile-{stamp}.json").write_text(json.dumps(profiles, indent=1))
        (RESULTS / f"profile-{stamp}.md").write_text(
            f"# Profiles {document['started']}\n\n" + report.profiles_markdown(profiles)
        )
        print()
        print(report.profiles_markdown(profiles))
    print(f"\nresults in {RESULTS} (started {document['started']}, finished {document['finished']})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
