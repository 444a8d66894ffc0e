"""The benchmark table: medians of the runs, their spread (min–max), ratios and targets."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Runs = Sequence[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Row:
    measure: str
    value: str  # median (min–max)
    peer: str = ""  # floor / reader, same run
    ratio: str = ""
    target: str = ""
    met: str = ""


def spread(runs: Runs, value: Callable[[dict[str, Any]], float], digits: int = 2) -> tuple[float, str]:
    """The median of `value` over the runs, and its text with the min–max."""
    values = [value(run) for run in runs]
    median = statistics.median(values)
    if len(values) == 1:
        return median, f"{median:,.{digits}f}"
    return median, f"{median:,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def verdict(ok: bool) -> str:
    return "yes" if ok else "NO"


def ingest_rows(ours: Runs, reader: Runs, floor: Runs) -> list[Row]:
    rate, rate_text = spread(ours, lambda r: r["entries"] / r["cold_wall"], 0)
    rows = [Row("cold ingest, entries/s", rate_text)]
    floor_rate, floor_text = spread(floor, lambda r: r["entries"] / r["parse_wall"], 0)
    rows.append(Row("  floor: lxml.etree.fromstring, entries/s", floor_text,
                    ratio=f"ours = 1/{floor_rate / rate:.0f}"))
    _, cpu = spread(ours, lambda r: r["cold_cpu"] / r["cold_wall"], 2)
    rows.append(Row("  cores used (CPU s / wall s)", cpu))
    _, rss = spread(ours, lambda r: r["cold_rss_mb"], 0)
    rows.append(Row("  peak RSS, MB", rss))
    if reader:
        peer, peer_text = spread(reader, lambda r: r["entries"] / r["cold_wall"], 0)
        rows[0] = Row("cold ingest, entries/s", rate_text, f"reader {peer_text}",
                      f"{rate / peer:.1f}× reader", "≥ 5× reader", verdict(rate >= 5 * peer))
        _, peer_rss = spread(reader, lambda r: r["cold_rss_mb"], 0)
        rows[3] = Row("  peak RSS, MB", rss, f"reader {peer_rss}")
    return rows


def backlog_rows(once: Runs, daemon: Runs) -> list[Row]:
    """The daemon's backlog ingest beside `once`'s (one engine: ordered vs as-ready), and where
    each one's time went: thread-seconds on the wire, a body's wait for prepare, the writer's
    transactions."""
    rate, once_text = spread(once, lambda r: r["entries"] / r["cold_wall"], 0)
    daemon_rate, daemon_text = spread(daemon, lambda r: r["entries"] / r["cold_wall"], 0)
    rows = [Row("daemon backlog ingest, entries/s", daemon_text, f"once {once_text}",
                f"{daemon_rate / rate:.2f}× once", "≥ 0.8× once (one pipeline)",
                verdict(daemon_rate >= 0.8 * rate))]
    _, cores = spread(daemon, lambda r: r["cold_cpu"] / r["cold_wall"], 2)
    rows.append(Row("  cores used (CPU s / wall s)", cores))
    for name, runs in (("once", once), ("daemon", daemon)):
        _, wall = spread(runs, lambda r: r["cold_wall"], 2)
        _, fetch = spread(runs, lambda r: r["fetch_s"], 1)
        _, prep = spread(runs, lambda r: r["prepare_s"], 1)
        _, store = spread(runs, lambda r: r["store_s"], 2)
        _, commits = spread(runs, lambda r: r["transactions"], 0)
        rows.append(Row(f"  {name}: wall s / fetch thread-s / prepare s per feed, summed / store s / commits",
                        f"{wall} / {fetch} / {prep} / {store} / {commits}"))
    return rows


def steady_rows(ours: Runs, reader: Runs, sources: int) -> list[Row]:
    cpu, cpu_text = spread(ours, lambda r: r["steady_cpu"], 3)
    per_feed = cpu / sources * 1000
    rows = [Row(f"steady state, CPU s per cycle ({sources} unchanged)", cpu_text, target="< 0.5 s per 1,000",
                met=verdict(per_feed < 0.5)),
            Row("  CPU ms per unchanged feed", f"{per_feed:.2f}"),
            Row("  wall s per cycle", spread(ours, lambda r: r["steady_wall"], 3)[1]),
            Row("  requests per cycle; feeds parsed",
                f"{spread(ours, lambda r: r['steady_requests'], 0)[1]}; "
                f"{spread(ours, lambda r: r['steady_parsed'], 0)[1]}")]
    if reader:
        peer, peer_text = spread(reader, lambda r: r["steady_cpu"], 3)
        rows[0] = Row(rows[0].measure, cpu_text, f"reader {peer_text}", f"{peer / cpu:.1f}× less CPU",
                      rows[0].target, rows[0].met)
        rows[1] = Row(rows[1].measure, rows[1].value, f"reader {peer / sources * 1000:.2f}")
        rows[3] = Row(rows[3].measure, rows[3].value,
                      f"reader {spread(reader, lambda r: r['steady_requests'], 0)[1]}")
    return rows


def daemon_rows(runs: Runs, items: int) -> list[Row]:
    peak, peak_text = spread(runs, lambda r: r["rss_peak_kib"] / 1024, 0)
    first = runs[0]
    return [Row(f"daemon peak RSS, MB ({items:,} stored items, {first['sources']} sources "
                f"polled every second for {first['cycles']} s, publishing)", peak_text,
                f"requests {first['requests']:,}; update served after {first['latency']:.1f} s",
                target="< 150 MB", met=verdict(peak < 150))]


def publish_rows(runs: Runs, oneshot: Runs) -> list[Row]:
    items = runs[0]["items"]
    whole, whole_text = spread(runs, lambda r: r["all_wall"], 3)
    one, one_text = spread(runs, lambda r: r["one_wall"], 3)
    rows = [Row(f"publish all feeds from {items:,} items, s ({runs[0]['feeds']} files)", whole_text,
                target="< 3 s", met=verdict(whole < 3)),
            Row(f"publish after one item changed, s ({runs[0]['one_written']} files rewritten)", one_text,
                target="< 0.3 s", met=verdict(one < 0.3))]
    if oneshot:
        rss, rss_text = spread(oneshot, lambda r: r["rss_mb"], 0)
        rows.append(Row(f"one-shot job peak RSS, MB ({oneshot[0]['items']:,} stored items)", rss_text,
                        target="< 150 MB", met=verdict(rss < 150)))
    return rows


def dedupe_rows(runs: Runs) -> list[Row]:
    """Deduplication on the ingest path (bench/dedupe_quality.py). The corpus and the decision are
    deterministic, so the quality figures are the first run's; only the time varies."""
    first = runs[0]
    recall, precision = first["recall"], first["precision"]
    missed = ", ".join(f"{variant} {count:,}" for variant, count in first["missed_by_variant"].items())
    planted = f"{first['hits']:,} of {first['found']:,} merged pairs planted"
    return [Row(f"dedupe on ingest: recall ({first['entries']:,} entries, {first['planted']:,} "
                "planted pairs)", f"{recall:.4f}", f"missed: {missed}", target="≥ 0.98",
                met=verdict(recall >= 0.98)),
            Row("  precision", f"{precision:.4f}", planted, target="≥ 0.999",
                met=verdict(precision >= 0.999)),
            *_near_miss_rows(first),
            Row("  entries lost (id key not found)", f"{first['lost']:,}", target="0",
                met=verdict(first["lost"] == 0)),
            Row("  ingest, ms per entry", spread(runs, lambda r: r["ms_per_entry"], 3)[1],
                f"{first['stored']:,} stored items")]


def _near_miss_rows(result: dict[str, Any]) -> list[Row]:
    """Near-miss pairs merged: in all (target 0), then per kind beside its number of entries."""
    merged = result["near_miss_merged"]
    return [Row("  near-miss pairs merged", f"{merged:,}", target="0", met=verdict(merged == 0)),
            *(Row(f"    {kind}", f"{count:,}", f"{result['near_miss_entries'].get(kind, 0):,} entries")
              for kind, count in result["near_miss_by_kind"].items())]


def table(rows: Sequence[Row]) -> str:
    header = Row("measure", "ours: median (min–max)", "side by side", "ratio", "target", "met")
    cells = [[r.measure, r.value, r.peer, r.ratio, r.target, r.met] for r in (header, *rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(6)]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
