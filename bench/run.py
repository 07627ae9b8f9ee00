"""Run the benchmark suite: every scenario against every system, one server at a time.

    .venv/bin/python bench/run.py                 # the full run (~7 min)
    .venv/bin/python bench/run.py --quick         # a smoke run (~2 min)
    .venv/bin/python bench/run.py --scenario fanout --system ceiling --system hubbub-embedded
    .venv/bin/python bench/run.py --profile       # + py-spy profiles of Hubbub under "fanout"

The server runs on core 0 (``taskset -c 0``), the load generator on core 1. Results go to
``bench/results/``: ``latest.json``, ``latest.md``, ``latency.png`` (and timestamped copies).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report
from bench.scenarios import POLLING_SUBSCRIBERS, Scenario, scenarios
from bench.systems import PYTHON, ROOT, System, all_systems

RESULTS = ROOT / "bench" / "results"
LOADGEN_CPUS = "1"


def run_one(system: System, scenario: Scenario, quick: bool, profile_to: Path | None = None) -> dict:
    subscribers = scenario.subscribers
    if system.max_subscribers is not None:
        subscribers = min(subscribers, POLLING_SUBSCRIBERS[quick])
    config = scenario.config(subscribers)
    if not system.has_topics:
        config["topics"] = config["publish_topics"] = ["room-0"]
    running = system.start(scenario.server_cpus)
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
        }
    )
    loadgen = subprocess.Popen(
        ["taskset", "-c", LOADGEN_CPUS, PYTHON, str(ROOT / "bench" / "loadgen.py"), json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    profiler: subprocess.Popen | None = None
    result: dict | None = None
    try:
        assert loadgen.stdout is not None and loadgen.stdin is not None
        for line in loadgen.stdout:
            message = json.loads(line)
            event = message["event"]
            if event == "ready":
                if profile_to is not None:
                    profiler = start_profiler(running.pid, profile_to)
                loadgen.stdin.write("go\n")
                loadgen.stdin.flush()
            elif event == "phase" and message["phase"] == "drained" and profiler is not None:
                stop_profiler(profiler)
                profiler = None
            elif event == "result":
                result = message["result"]
            elif event == "phase" and message["phase"] == "connected":
                print(f"    connected {message['connected']}/{subscribers} in {message['seconds']} s", flush=True)
        loadgen.wait(timeout=60)
    finally:
        if profiler is not None:
            stop_profiler(profiler)
        if loadgen.poll() is None:
            loadgen.kill()
            loadgen.wait()
        running.stop()
    if result is None:
        raise RuntimeError(
            f"the load generator ended with {loadgen.returncode} and no result; server log: {running.log}"
        )
    result.update(
        {
            "system": system.name,
            "label": system.label,
            "scenario": scenario.name,
            "mode": scenario.mode,
            "workers": system.workers,
            "server_cpus": scenario.server_cpus,
            "load_average": load_average(),
        }
    )
    return result


def load_average() -> float:
    """The machine's 1-minute load average: other work on these 2 cores shows up in latency."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def start_profiler(pid: int, output: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            "taskset",
            "-c",
            LOADGEN_CPUS,
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
            result = run_one(prepared_system(name), target, args.quick, profile_to=raw)
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
                print(f"  -- {name}", flush=True)
                begun = time.monotonic()
                try:
                    result = run_one(prepared_system(name), scenario, args.quick)
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
