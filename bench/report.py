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
        "pubs": _f(result.get("publishes_per_s"), 0) if mode == "max" else "—",
        "eps": _f(result.get("events_per_s"), 0) if mode == "max" else "—",
        "lg": _f(result.get("loadgen_cpu_percent"), 0) if mode != "idle" else "—",
        "load": _f(result.get("load_average"), 1),
    }


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
        idle = _find(results, "idle", system)
        if idle:
            add(
                "≤ 40 KB RSS per idle subscriber",
                system,
                f"{idle['rss_per_conn_kb']:.1f} KB",
                idle["rss_per_conn_kb"] <= 40,
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
        "Server on core 0, load generator on core 1 (scale-out: server on both).\n",
        markdown_tables(document),
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
