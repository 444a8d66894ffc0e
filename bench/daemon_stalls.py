"""The daemon under a slow host, a big seed document and a site move: does anything stall?

Starts `partyfeeds serve` with SLOW sources on a host that answers in --delay seconds and FAST
sources on a host that answers at once, all polled every --interval seconds, and a seed
document of --headlines headlines. After the first publish it moves `site.base_url` and sends
SIGHUP (every page is rendered again), keeps /healthz sampled every 0.1 s the whole time, and
ends with SIGTERM. It prints how late each fast source's polls came, whether any poll waited
for a previous one, the /healthz latencies, and the exit status.

    .venv/bin/python -m bench.daemon_stalls              # 24 slow (2 s), 4 fast, 60 s, 12,000 headlines
    .venv/bin/python -m bench.daemon_stalls --quick      # a small version (~30 s)
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from bench.corpus import Generator
from bench.runs import ROOT, registry
from tests.localserver import LocalServer, Reply

STARTED = re.compile(r"serve status=started url=http://127\.0\.0\.1:(\d+)/")
RSS = (("Content-Type", "application/rss+xml"),)


def feed(name: str) -> bytes:
    items = "".join(f"<item><title>{name} statement {n} on the wages of the dockers</title>"
                    f"<link>https://{name}.example/{n}</link><guid>{name}-{n}</guid></item>"
                    for n in range(5))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>{items}' \
           f'</channel></rss>'.encode()


class Prober:
    """GET /healthz every 0.1 s on a fresh connection; every latency and status."""

    def __init__(self, port: int) -> None:
        self.port, self.samples = port, []  # type: ignore[var-annotated]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            asked = time.monotonic()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                connection.request("GET", "/healthz")
                status = connection.getresponse().status
                connection.close()
            except OSError:
                status = 0
            self.samples.append((time.monotonic() - asked, status))


def scenario(args: argparse.Namespace) -> dict[str, Any]:
    with LocalServer() as slow, LocalServer() as fast, tempfile.TemporaryDirectory() as folder:
        sources = []
        for n in range(args.slow):
            slow.script(f"/s{n}.rss", Reply(200, feed(f"slow{n}"), RSS, delay=args.delay))
            sources.append({"id": f"slow-{n}", "url": slow.url(f"/s{n}.rss"), "interval": args.interval})
        for n in range(args.fast):
            fast.script(f"/f{n}.rss", Reply(200, feed(f"fast{n}"), RSS))
            sources.append({"id": f"fast-{n}", "url": fast.url(f"/f{n}.rss"), "interval": args.interval})
        seeds = Path(folder, "seeds")
        seeds.mkdir()
        stories = Generator(registry()).headlines(args.headlines)
        (seeds / "headlines.txt").write_text("\n\n".join(story.title for story in stories), "utf-8")
        config = {
            "site": {"title": "stalls", "base_url": "http://127.0.0.1:8080/", "author": {"name": "b"}},
            "storage": {"database": "state/pf.sqlite"}, "seeds": {"paths": [str(seeds)]},
            "registry": {"parties": str(ROOT / "registry/parties.yaml"),
                         "topics": str(ROOT / "registry/topics.yaml")},
            "server": {"port": 0},
            "schedule": {"jitter": args.jitter, "publish_delay": 1, "min_interval": 1},
            "fetch": {"allow_hosts": ["127.0.0.1"]}, "sources": sources,
        }
        config_path = Path(folder, "config.yaml")
        config_path.write_text(yaml.safe_dump(config))
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        log: list[str] = []
        launched = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "serve"], cwd=folder,
                                   stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": path})
        threading.Thread(target=lambda: log.extend(process.stderr or []), daemon=True).start()
        while not (match := STARTED.search("".join(log))):
            if process.poll() is not None or time.monotonic() - launched > 600:
                process.kill()
                raise SystemExit("the daemon did not start:\n" + "".join(log[-20:]))
            time.sleep(0.1)
        started = time.monotonic()
        prober = Prober(int(match.group(1)))
        time.sleep(args.move_after)
        config["site"]["base_url"] = "http://feeds.example.org/"  # type: ignore[index]
        config_path.write_text(yaml.safe_dump(config))
        process.send_signal(signal.SIGHUP)
        time.sleep(max(0.0, args.seconds - (time.monotonic() - started)))
        metrics = _get(int(match.group(1)), "/metrics")
        prober.stop.set()
        prober.thread.join()
        process.terminate()
        code = process.wait(timeout=60)
        fast_starts = {n: [r.started for r in fast.requests_for(f"/f{n}.rss")] for n in range(args.fast)}
        slow_count = len(slow.requests)
    moved = any("publish site_moved" in line for line in log)
    return {"start_s": started - launched, "fast": fast_starts, "slow_requests": slow_count,
            "health": prober.samples, "exit": code, "moved": moved, "metrics": metrics, "log": log}


def _get(port: int, path: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path)
    return connection.getresponse().read().decode()


def report(args: argparse.Namespace, found: dict[str, Any]) -> None:
    print(f"{args.slow} sources on a host answering in {args.delay} s, {args.fast} on a fast host, all every "
          f"{args.interval} s (jitter {args.jitter} s); {args.headlines:,} seed headlines; site moved and "
          f"SIGHUP after {args.move_after} s; watched {args.seconds} s after start "
          f"(start-up, seeds ingested and first publish: {found['start_s']:.1f} s)")
    late = args.interval + args.jitter
    for n, starts in found["fast"].items():
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        worst = max(gaps, default=0.0)
        print(f"  fast-{n}: {len(starts)} polls, longest gap {worst:.1f} s (interval + jitter = {late} s)"
              f"{'' if worst <= late + 1 else '  LATE'}")
    print(f"  slow host: {found['slow_requests']} requests")
    waiting = sum(float(line.split()[-1]) for line in found["metrics"].splitlines()
                  if line.startswith("partyfeeds_polls_waiting_total{"))
    refused = sum("maximum number of running instances" in line for line in found["log"])
    print(f"  polls that found their source's last poll still queued: {waiting:.0f}; "
          f"APScheduler 'maximum number of running instances': {refused}")
    latencies = sorted(seconds for seconds, _ in found["health"])
    statuses = {status for _, status in found["health"]}
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    print(f"  /healthz: {len(latencies)} samples, statuses {sorted(statuses)}, median "
          f"{statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms, over 50 ms: {sum(s > 0.05 for s in latencies)}, "
          f"over 1 s: {sum(s > 1 for s in latencies)}")
    print(f"  site move re-rendered: {found['moved']}; exit status after SIGTERM: {found['exit']}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.daemon_stalls", description=__doc__.split("\n")[0])
    parser.add_argument("--slow", type=int, default=24)
    parser.add_argument("--fast", type=int, default=4)
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--interval", type=int, default=60)
    parser.add_argument("--jitter", type=int, default=5)
    parser.add_argument("--headlines", type=int, default=12000)
    parser.add_argument("--move-after", type=float, default=20.0)
    parser.add_argument("--seconds", type=int, default=240)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.slow, args.delay, args.interval, args.jitter = 8, 0.5, 5, 1
        args.headlines, args.move_after, args.seconds = 1000, 5.0, 20
    report(args, scenario(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
