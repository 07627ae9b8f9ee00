"""Turning results into the table, the Markdown report, the target verdicts and the latency figure."""

from __future__ import annotations

from typing import Any

HUBBUB = ("hubbub-embedded", "hubbub-redis", "hubbub-embedded-ws", "hubbub-redis-ws")
# Each WebSocket system and the SSE system it is compared with (the same server, subscribers over SSE).
WEBSOCKET = {"hubbub-embedded-ws": "hubbub-embedded", "hubbub-redis-ws": "hubbub-redis"}
COLUMNS = [
    ("system", "system"),
    ("connected", "connected"),
    ("connect s", "connect"),
    ("delivered/expected", "delivered"),
    ("lost", "lost"),
    ("dup", "duplicates"),
    ("p50 ms", "p50"),
    ("p99 ms", "p99"),
    ("max ms", "max"),
    ("CPU µs/event", "cpu"),
    ("× ceiling", "ratio"),
    ("RSS KB/conn", "rss"),
    ("idle CPU %", "idle"),
    ("publishes/s", "pubs"),
    ("events/s", "eps"),
    ("loadgen CPU %", "lg"),
    ("load avg", "load"),
]


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def ceiling_cpu(results: list[dict], scenario: str) -> float | None:
    for result in results:
        if result["scenario"] == scenario and result["system"] == "ceiling" and "error" not in result:
            return result.get("cpu_us_per_event")
    return None


def cells(result: dict, results: list[dict]) -> dict[str, str]:
    if "error" in result:
        return {"system": result["system"], "connected": "ERROR: " + result["error"].splitlines()[0][:80]}
    ceiling = ceiling_cpu(results, result["scenario"])
    mode = result.get("mode")
    cpu = result.get("cpu_us_per_event") if mode != "idle" else None
    latency = result.get("latency_ms", {})
    system = result["system"]
    return {
        "system": system,
        "connected": f"{result['connected']:,}/{result['subscribers']:,}",
        "connect": _f(result.get("connect_seconds"), 2),
        "delivered": f"{result['delivered']:,}/{result['expected']:,}",
        "lost": _f(result.get("lost")),
        "duplicates": _f(result.get("duplicates")),
        "p50": _f(latency.get("p50")),
        "p99": _f(latency.get("p99")),
        "max": _f(latency.get("max")),
        "cpu": _f(cpu),
        "ratio": _f(cpu / ceiling, 2) if cpu and ceiling else "—",
        "rss": _f(result.get("rss_per_conn_kb")),
        "idle": _f(result.get("idle_cpu_percent"), 2),
        "pubs": _f(result.get("publishes_per_s"), 0) if mode in ("max", "sweep") else "—",
        "eps": _f(result.get("events_per_s"), 0) if mode in ("max", "sweep") else "—",
        "lg": _loadgen_cpu(result) if mode != "idle" else "—",
        "load": _f(result.get("load_average"), 1),
    }


def _loadgen_cpu(result: dict) -> str:
    """The busiest load process's CPU (% of its core), with ``!`` when it may have set the figure."""
    text = _f(result.get("loadgen_cpu_percent"), 0)
    by_process = result.get("loadgen_cpu_percent_by_process") or []
    if len(by_process) > 1:
        text += f" (max of {len(by_process)})"
    return text + (" !" if result.get("loadgen_load_bound") else "")


def load_bound_text(document: dict) -> str:
    """The runs whose figure a load process may have set (above ~80% of its core)."""
    flagged = [
        f"{r['scenario']}/{r['system']} ("
        + ", ".join(f"{p:.0f}%" for p in r.get("loadgen_cpu_percent_by_process") or [] if p is not None)
        + ")"
        for r in document["results"]
        if r.get("loadgen_load_bound") and r.get("mode") != "idle"
    ]
    if not flagged:
        return "Load side: no load process above 80% of its core."
    return "Load side: a load process above 80% of its core, the figure may be the load generator's: " + "; ".join(
        flagged
    )


def step_line(step: dict) -> str:
    """One step of a rate sweep, as ``run.py`` prints it."""
    latency = step["latency_ms"]
    return (
        f"{step['rate']:>7,.0f} publishes/s: {'pass' if step['pass'] else 'FAIL'}, "
        f"{step['publishes_per_s']:,.0f}/s published, {step['deliveries_per_s']:,.0f} deliveries/s, "
        f"{step['delivered']:,}/{step['expected']:,}, p50/p99 {_f(latency['p50'])}/{_f(latency['p99'])} ms, "
        f"{_f(step['cpu_us_per_event'])} µs CPU/delivery, loadgen "
        + "/".join(f"{p:.0f}" for p in step["loadgen_cpu_percent_by_process"])
        + " %"
        + (" !" if step["loadgen_load_bound"] else "")
        + (f" ({step['why']})" if step["why"] else "")
    )


def sweep_markdown(document: dict) -> str:
    """The rate sweeps: the highest passing rate per system and worker count, and what stopped it."""
    runs = [r for r in document["results"] if r.get("mode") == "sweep" and "error" not in r]
    if not runs:
        return ""
    lines = [
        "| system | workers | sustainable publishes/s | deliveries/s | p99 ms there | CPU µs/delivery there "
        "| loadgen CPU % there | stopped at |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['system']} | {r['workers']} | {_f(r['sustainable_publishes_per_s'], 0)} "
            f"| {_f(r['sustainable_deliveries_per_s'], 0)} | {_f(r['latency_ms']['p99'])} "
            f"| {_f(r['cpu_us_per_event'])} | {_loadgen_cpu(r)} | {r['sweep_stopped_by']} |"
        )
    return "\n".join(lines)


def one_line(result: dict) -> str:
    c = cells(result, [result])
    return (
        f"connected {c['connected']}, delivered {c['delivered']}, lost {c['lost']}, dup {c['duplicates']}, "
        f"p50/p99/max {c['p50']}/{c['p99']}/{c['max']} ms, {c['cpu']} µs CPU/event, {c['rss']} KB/conn, "
        f"idle {c['idle']} %, {c['pubs']} pub/s, {c['eps']} events/s, loadgen {c['lg']} %"
    )


def by_scenario(document: dict) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for result in document["results"]:
        grouped.setdefault(result["scenario"], []).append(result)
    return grouped


def text_table(document: dict) -> str:
    lines: list[str] = []
    for scenario, results in by_scenario(document).items():
        lines.append(f"{scenario}: {document['scenarios'].get(scenario, '')}")
        rows = [[label for label, _ in COLUMNS]] + [
            [cells(r, results).get(key, "") for _, key in COLUMNS] for r in results
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        for row in rows:
            lines.append(
                "  ".join(
                    cell.rjust(width) if i else cell.ljust(width)
                    for i, (cell, width) in enumerate(zip(row, widths, strict=True))
                )
            )
        lines.append("")
    return "\n".join(lines).rstrip()


def markdown_tables(document: dict) -> str:
    out: list[str] = []
    for scenario, results in by_scenario(document).items():
        out.append(f"### {scenario}: {document['scenarios'].get(scenario, '')}\n")
        out.append("| " + " | ".join(label for label, _ in COLUMNS) + " |")
        out.append("|" + "---|" * len(COLUMNS))
        for result in results:
            row = cells(result, results)
            out.append("| " + " | ".join(row.get(key, "") for _, key in COLUMNS) + " |")
        out.append("")
    return "\n".join(out)


def _find(results: list[dict], scenario: str, system: str) -> dict | None:
    for result in results:
        if result["scenario"] == scenario and result["system"] == system and "error" not in result:
            return result
    return None


def _ceiling_p99(results: list[dict], scenario: str) -> str:
    ceiling = _find(results, scenario, "ceiling")
    if not ceiling:
        return ""
    extra = f", {ceiling['publishes_per_s']:,.0f}/s" if ceiling.get("mode") == "max" else ""
    return f" (ceiling in this run: p99 {_f(ceiling['latency_ms']['p99'])} ms{extra})"


def targets(results: list[dict]) -> list[dict]:
    """The issue's targets for Hubbub, each with what was measured and a verdict (None: not measured)."""
    verdicts: list[dict] = []

    def add(target: str, system: str, measured: str, passed: bool | str | None) -> None:
        verdicts.append({"target": target, "system": system, "measured": measured, "pass": passed})

    for system in HUBBUB:
        fanout, ceiling = _find(results, "fanout", system), _find(results, "fanout", "ceiling")
        if fanout and ceiling and fanout.get("cpu_us_per_event") and ceiling.get("cpu_us_per_event"):
            ratio = fanout["cpu_us_per_event"] / ceiling["cpu_us_per_event"]
            add(
                "CPU per delivered event ≤ 1.25× ceiling (fanout)",
                system,
                f"{fanout['cpu_us_per_event']:.1f} µs = {ratio:.2f}× ({ceiling['cpu_us_per_event']:.1f} µs)",
                ratio <= 1.25,
            )
        else:
            add("CPU per delivered event ≤ 1.25× ceiling (fanout)", system, "not measured", None)
        if fanout and ceiling and fanout.get("cpu_us_per_event") and ceiling.get("cpu_us_per_event"):
            add(
                "issue 12: CPU per delivery ≤ 0.6× ceiling (fanout)",
                system,
                f"{fanout['cpu_us_per_event'] / ceiling['cpu_us_per_event']:.2f}×",
                fanout["cpu_us_per_event"] <= 0.6 * ceiling["cpu_us_per_event"],
            )
        nchan = _find(results, "fanout", "nchan")
        if fanout and nchan and fanout.get("cpu_us_per_event") and nchan.get("cpu_us_per_event"):
            ratio = fanout["cpu_us_per_event"] / nchan["cpu_us_per_event"]
            add(
                "CPU per delivery ≤ 1.5× nchan in the same run (fanout)",
                system,
                f"{fanout['cpu_us_per_event']:.1f} µs = {ratio:.2f}× ({nchan['cpu_us_per_event']:.1f} µs)",
                ratio <= 1.5,
            )
        else:
            add("CPU per delivery ≤ 1.5× nchan in the same run (fanout)", system, "not measured", None)
        idle = _find(results, "idle", system)
        if idle:
            add(
                "≤ 40 KB RSS per idle subscriber",
                system,
                f"{idle['rss_per_conn_kb']:.1f} KB",
                idle["rss_per_conn_kb"] <= 40,
            )
            if not system.endswith("-ws"):
                add(
                    "issue 12: ≤ 12 KB RSS per idle subscriber (nchan: 10 KB)",
                    system,
                    f"{idle['rss_per_conn_kb']:.1f} KB",
                    idle["rss_per_conn_kb"] <= 12,
                )
            add(
                f"{idle['subscribers']:,} idle subscribers < 1% of a core",
                system,
                f"{idle['idle_cpu_percent']:.2f} %",
                idle["idle_cpu_percent"] < 1,
            )
        else:
            add("≤ 40 KB RSS per idle subscriber", system, "not measured", None)
            add("idle subscribers < 1% of a core", system, "not measured", None)
        big = _find(results, "fanout-10k", system)
        if big:
            p99 = big["latency_ms"]["p99"]
            ok = (
                big["connected"] == big["subscribers"]
                and big["delivered"] == big["expected"]
                and big["lost"] == 0
                and p99 is not None
                and p99 <= 500
            )
            add(
                f"{big['subscribers']:,} subscribers on one worker: all connect, 100% delivered, p99 ≤ 500 ms",
                system,
                f"{big['connected']:,} connected, {big['delivered']:,}/{big['expected']:,}, "
                f"p99 {_f(p99)} ms{_ceiling_p99(results, 'fanout-10k')}",
                ok,
            )
        else:
            add("10,000 subscribers on one worker", system, "not measured", None)
    for system, sse in WEBSOCKET.items():
        over_ws, over_sse = _find(results, "fanout", system), _find(results, "fanout", sse)
        if over_ws and over_sse and over_ws.get("cpu_us_per_event") and over_sse.get("cpu_us_per_event"):
            ratio = over_ws["cpu_us_per_event"] / over_sse["cpu_us_per_event"]
            add(
                "WebSocket CPU per delivered event ≤ 1.25× SSE's (fanout)",
                system,
                f"{over_ws['cpu_us_per_event']:.1f} µs = {ratio:.2f}× ({over_sse['cpu_us_per_event']:.1f} µs over SSE)",
                ratio <= 1.25,
            )
        else:
            add("WebSocket CPU per delivered event ≤ 1.25× SSE's (fanout)", system, "not measured", None)
    throughput = _find(results, "publish-max", "hubbub-redis")
    if throughput:
        p99 = throughput["latency_ms"]["p99"]
        ok = throughput["publishes_per_s"] >= 1000 and p99 is not None and p99 <= 100
        add(
            "≥ 1,000 HTTP publishes/s, history in PostgreSQL, p99 ≤ 100 ms",
            "hubbub-redis",
            f"{throughput['publishes_per_s']:,.0f}/s, p99 {_f(p99)} ms{_ceiling_p99(results, 'publish-max')}",
            ok,
        )
    else:
        add("≥ 1,000 HTTP publishes/s, history in PostgreSQL, p99 ≤ 100 ms", "hubbub-redis", "not measured", None)
    one, two = _find(results, "scale-out", "hubbub-redis"), _find(results, "scale-out", "hubbub-redis-2w")
    if one and two and one["events_per_s"]:
        ratio = two["events_per_s"] / one["events_per_s"]
        add(
            "2 workers on Redis ≥ 1.7× the events/s of 1",
            "hubbub-redis-2w",
            f"{two['events_per_s']:,.0f} vs {one['events_per_s']:,.0f} events/s = {ratio:.2f}×",
            ratio >= 1.7,
        )
    else:
        add("2 workers on Redis ≥ 1.7× the events/s of 1", "hubbub-redis-2w", "not measured", None)
    # On a machine where the workers, the load generator, PostgreSQL and Redis share two
    # cores, throughput cannot double; CPU per event says what a core per worker would give.
    one, two = _find(results, "scale-out-fanout", "hubbub-redis"), _find(results, "scale-out-fanout", "hubbub-redis-2w")
    if one and two and one.get("cpu_us_per_event") and two.get("cpu_us_per_event"):
        projected = 2 * one["cpu_us_per_event"] / two["cpu_us_per_event"]
        add(
            "2 workers ≥ 1.7× of 1, projected: 2 × CPU per event of 1 worker ÷ of 2 (fan-out, a core each)",
            "hubbub-redis-2w",
            f"{two['cpu_us_per_event']:.1f} vs {one['cpu_us_per_event']:.1f} µs/event = {projected:.2f}× projected",
            "projection " + ("≥" if projected >= 1.7 else "<") + " 1.7×",
        )
    sweep_targets(results, add)
    hubbub_runs = [r for r in results if r["system"].startswith("hubbub")]
    if hubbub_runs:
        bad = [
            f"{r['scenario']}/{r['system']}"
            for r in hubbub_runs
            if "error" in r
            or r["lost"]
            or r["duplicates"]
            or r["unexpected"]
            or r["connected"] != r["subscribers"]
            or r["ended_early"]
        ]
        add(
            "zero lost or duplicated deliveries in every scenario",
            "hubbub-*",
            "none lost or duplicated" if not bad else "failed in " + ", ".join(bad),
            not bad,
        )
    return verdicts


def _step_at(result: dict, rate: float) -> dict | None:
    return next((step for step in result.get("steps", []) if step["rate"] == rate and step["pass"]), None)


def sweep_targets(results: list[dict], add) -> None:
    """Issue 12: sustainable throughput with N workers against 1 (the rate sweep). Measured where
    each worker had a core of its own; on a small machine, projected from CPU per delivery at
    the highest rate both passed (N × CPU of 1 worker ÷ CPU of N)."""
    one = _find(results, "sustainable", "hubbub-redis")
    for workers, goal in ((2, 1.8), (4, None), (8, 6.0)):
        system = f"hubbub-redis-{workers}w"
        many = _find(results, "sustainable", system)
        target = f"sustainable deliveries/s (p99 ≤ 100 ms), {workers} workers " + (
            f"≥ {goal}× of 1" if goal else "against 1"
        )
        if not (one and many and one.get("sustainable_deliveries_per_s")):
            if goal:
                add(target, system, "not measured", None)
            continue
        if many.get("layout_spread"):
            ratio = many["sustainable_deliveries_per_s"] / one["sustainable_deliveries_per_s"]
            measured = (
                f"{many['sustainable_deliveries_per_s']:,.0f} vs {one['sustainable_deliveries_per_s']:,.0f} "
                f"deliveries/s = {ratio:.2f}×"
            )
            add(target, system, measured, ratio >= goal if goal else f"{ratio:.2f}×")
            continue
        common = [step["rate"] for step in many.get("steps", []) if step["pass"] and _step_at(one, step["rate"])]
        a = _step_at(one, common[-1]) if common else None
        b = _step_at(many, common[-1]) if common else None
        if not (a and b and a["cpu_us_per_event"] and b["cpu_us_per_event"]):
            add(target, system, "no rate passed by both with a CPU reading", None)
            continue
        projected = workers * a["cpu_us_per_event"] / b["cpu_us_per_event"]
        measured = (
            f"measured {many['sustainable_deliveries_per_s']:,.0f} vs {one['sustainable_deliveries_per_s']:,.0f} "
            f"deliveries/s (no core per worker here); at {common[-1]:,.0f} publishes/s {b['cpu_us_per_event']:.1f} "
            f"vs {a['cpu_us_per_event']:.1f} µs/delivery = {projected:.2f}× projected"
        )
        verdict = f"projection {'≥' if projected >= goal else '<'} {goal}×" if goal else "projection"
        add(target + ", projected", system, measured, verdict)


def _verdict(passed: bool | str | None) -> str:
    """PASS, FAIL, "not measured", or the text of a verdict that is not a measurement."""
    if isinstance(passed, str):
        return passed
    return {True: "PASS", False: "FAIL", None: "not measured"}[passed]


def targets_text(document: dict) -> str:
    lines = ["Targets for Hubbub:"]
    for verdict in document["targets"]:
        lines.append(
            f"  [{_verdict(verdict['pass'])}] {verdict['target']} — {verdict['system']}: {verdict['measured']}"
        )
    return "\n".join(lines)


def targets_markdown(document: dict) -> str:
    lines = ["| target | system | measured | verdict |", "|---|---|---|---|"]
    for verdict in document["targets"]:
        lines.append(
            f"| {verdict['target']} | {verdict['system']} | {verdict['measured']} | {_verdict(verdict['pass'])} |"
        )
    return "\n".join(lines)


def profiles_markdown(profiles: dict) -> str:
    out: list[str] = []
    for system, profile in profiles.items():
        run = profile["run"]
        out.append(
            f"#### py-spy, {system} ({profile['samples']:,} samples at 1 kHz; {run['delivered']:,} events delivered"
            + (f", {_f(run.get('publishes_per_s'), 0)} publishes/s" if run.get("mode") == "max" else "")
            + ")\n"
        )
        out.append("| self % | function (file) |")
        out.append("|---|---|")
        for frame, _, percent in profile["self"][:20]:
            out.append(f"| {percent:.1f} | `{frame}` |")
        out.append("\n| inclusive % | function (file) |")
        out.append("|---|---|")
        for frame, _, percent in profile["inclusive"][:25]:
            out.append(f"| {percent:.1f} | `{frame}` |")
        out.append("")
    return "\n".join(out)


def markdown(document: dict) -> str:
    parts = [
        f"# Benchmark results {document['started']}{' (quick)' if document['quick'] else ''}\n",
        f"Finished {document['finished']}; {document['host']['cpus']} CPUs, Python {document['host']['python']}. "
        f"Layout: {document.get('layout', {}).get('description', 'server on core 0, load generator on core 1')}.\n",
        markdown_tables(document),
        load_bound_text(document) + "\n",
        *(
            ["## Sustainable throughput (rate sweep)\n", sweep_markdown(document), ""]
            if sweep_markdown(document)
            else []
        ),
        "## Targets\n",
        targets_markdown(document),
        "",
    ]
    if document.get("profiles"):
        parts += ["## Profiles\n", profiles_markdown(document["profiles"])]
    return "\n".join(parts) + "\n"


def plot(document: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grouped = {k: [r for r in v if r.get("latency_quantiles_ms")] for k, v in by_scenario(document).items()}
    grouped = {k: v for k, v in grouped.items() if v}
    if not grouped:
        return
    fig, axes = plt.subplots(len(grouped), 1, figsize=(9, 3.6 * len(grouped)), squeeze=False)
    for ax, (scenario, results) in zip(axes[:, 0], grouped.items(), strict=False):
        for result in results:
            values = result["latency_quantiles_ms"]
            fractions = [100 * i / (len(values) - 1) for i in range(len(values))]
            ax.plot([max(v, 0.1) for v in values], fractions, label=result["system"], linewidth=1.4)
        ax.set_xscale("log")
        ax.set_xlabel("delivery latency, publish sent → event received (ms, log scale)")
        ax.set_ylabel("% of deliveries ≤ x")
        ax.set_title(f"{scenario}: {document['scenarios'].get(scenario, '')}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
