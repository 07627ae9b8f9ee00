"""Where the suite puts the server and the load processes on the machine it finds.

Run: ``.venv/bin/pytest bench/test_layout.py -q``.
"""

from __future__ import annotations

from bench.layout import Layout
from bench.run import merge, share_of


def test_two_cores_keep_server_on_core_0_and_one_load_process_on_core_1() -> None:
    layout = Layout((0, 1))
    assert not layout.spread
    assert layout.server_cpus(1, "0") == "0"
    assert layout.server_cpus(2, "0,1") == "0,1"
    assert layout.load_cpus(10_000) == ["1"]
    assert layout.max_workers == 2
    assert "projection" in layout.describe()


def test_sixteen_cores_give_each_worker_and_each_load_process_a_core() -> None:
    layout = Layout(tuple(range(16)))
    assert layout.server_cpus(1, "0") == "0"
    assert layout.server_cpus(8, "0,1") == "0,1,2,3,4,5,6,7"
    assert layout.load_cpus(8_000) == [str(core) for core in range(8, 16)]
    assert layout.load_cpus(300) == ["8", "9"]  # one process per 250 subscribers at most
    assert layout.max_workers == 8


def test_subscribers_and_publishers_are_dealt_out_to_the_load_processes() -> None:
    config = {"mode": "max", "subscribers": 1001, "publishers": 8, "topics": ["a", "b"]}
    shares = [share_of(config, k, 3) for k in range(3)]
    assert [s["subscribers"] for s in shares] == [334, 334, 333]
    assert [s["publishers"] for s in shares] == [3, 3, 2]
    paced = share_of(dict(config, mode="paced"), 1, 3)
    assert paced["publishers"] == 8  # paced publishing is process 0's alone, whatever this says


def part(delivered: int, latencies_ms: list[float], loadgen_percent: float, cpu: tuple[float, float]) -> dict:
    return {
        "mode": "paced",
        "subscribers": 10,
        "connected": 10,
        "delivered": delivered,
        "expected": delivered,
        "lost": 0,
        "duplicates": 0,
        "unexpected": 0,
        "ended_early": 0,
        "published": 0,
        "publish_errors": 0,
        "publish_seconds": 1.0,
        "connect_seconds": 0.5,
        "rss_before_kb": 1000,
        "rss_after_kb": 1100,
        "started_ns": 0,
        "last_delivery_ns": 2_000_000_000,
        "server_cpu_before": cpu[0],
        "server_cpu_at_last": cpu[1],
        "loadgen_cpu_percent": loadgen_percent,
        "latencies_ns": [int(ms * 1e6) for ms in latencies_ms],
        "slowest_ns_by_update": {"1": int(max(latencies_ms) * 1e6)},
    }


def test_merged_results_pool_latencies_and_flag_a_busy_load_process() -> None:
    merged = merge([part(100, [1.0] * 100, 40.0, (1.0, 1.5)), part(100, [9.0] * 100, 85.0, (1.1, 1.6))], 1500)
    assert merged["delivered"] == 200 and merged["connected"] == 20
    assert merged["latency_ms"]["p50"] == 9.0 and merged["latency_ms"]["max"] == 9.0
    assert abs(merged["cpu_us_per_event"] - 1e6 * 0.6 / 200) < 1e-6
    assert merged["rss_per_conn_kb"] == 25.0
    assert merged["loadgen_cpu_percent_by_process"] == [40.0, 85.0]
    assert merged["loadgen_load_bound"]
    assert merged["slowest_delivery_ms_by_update"] == [9.0]
