"""Measure the daemon: memory after an hour-equivalent of polling, and update latency.

Starts `partyfeeds serve` against SOURCES local feeds polled every second (so
60 cycles stand for an hour of 1-minute polling), samples the process's RSS,
then changes one source and times how long until the new item is served.
`--store` starts it on a copy of an existing database (the bench's 100,000-item
store: `python -m bench` runs this with it for the memory row).

    .venv/bin/python bench/daemon_watch.py [--sources 50] [--cycles 60] [--store big.sqlite]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.localserver import LocalServer, Reply  # noqa: E402 - after the path set-up

STARTED = re.compile(r"serve status=started url=http://127\.0\.0\.1:(\d+)/")


def feed(source: int, items: int, extra: str = "") -> bytes:
    entries = "".join(
        f"<item><title>Statement {source}-{n} of the Communist Party of Greece on the strike</title>"
        f"<link>https://party{source}.example/{n}</link><guid>s{source}-{n}</guid>"
        f"<pubDate>Thu, 07 Dec 2017 10:{n % 60:02d}:00 +0000</pubDate></item>"
        for n in range(items)
    )
    if extra:
        entries = f"<item><title>{extra}</title><link>https://party{source}.example/new</link></item>{entries}"
    channel = f"<channel><title>P{source}</title>{entries}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """The process's resident memory now (VmRSS) or at its peak so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def served(port: int, path: str, text: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        return text.encode() in connection.getresponse().read()
    finally:
        connection.close()


def watch(sources: int, items: int, cycles: int, store: Path | None = None,
          log_file: Path | None = None, in_place: Path | None = None) -> dict[str, float]:
    """Run the daemon for `cycles` seconds; its RSS samples, requests and update latency.

    `store`: start on a copy of this database; with `in_place` (an output folder), on the
    database itself, publishing into that folder (the scale suite's published store)."""
    log: list[str] = []
    try:
        return _watch(sources, items, cycles, store, log, in_place)
    finally:
        if log_file is not None:
            log_file.write_text("".join(log))


def _watch(sources: int, items: int, cycles: int, store: Path | None, log: list[str],
           in_place: Path | None) -> dict[str, float]:
    with LocalServer() as local, tempfile.TemporaryDirectory() as folder:
        for n in range(sources):
            local.script(f"/{n}.rss", Reply(200, feed(n, items), (("ETag", f'"{n}"'),)))
        config = {
            "site": {"title": "bench", "base_url": "http://127.0.0.1:8080/", "author": {"name": "b"}},
            "storage": {"database": "state/pf.sqlite"}, "seeds": {"paths": [str(ROOT / "seeds")]},
            "registry": {"parties": str(ROOT / "registry/parties.yaml"),
                         "topics": str(ROOT / "registry/topics.yaml")},
            "server": {"port": 0}, "schedule": {"jitter": 1, "publish_delay": 1, "min_interval": 1},
            "fetch": {"allow_hosts": ["127.0.0.1"]},
            "sources": [{"id": f"s{n}", "url": local.url(f"/{n}.rss"), "interval": 1}
                        for n in range(sources)],
        }
        if in_place is not None and store is not None:
            config.update(storage={"database": str(store)}, output={"directory": str(in_place)})
        Path(folder, "config.yaml").write_text(yaml.safe_dump(config))
        if store is not None and in_place is None:
            Path(folder, "state").mkdir()
            shutil.copy(store, Path(folder, "state", "pf.sqlite"))
        # This checkout's code, not whichever one is installed: the daemon runs in a temporary folder.
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        process = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "serve"], cwd=folder,
                                   stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": path})
        threading.Thread(target=lambda: log.extend(process.stderr or []), daemon=True).start()
        launched = time.monotonic()
        while not (match := STARTED.search("".join(log))):
            if process.poll() is not None or time.monotonic() - launched > 300:
                process.kill()
                raise SystemExit("the daemon did not start:\n" + "".join(log[-20:]))
            time.sleep(0.1)
        port = int(match.group(1))
        samples = []
        started = time.monotonic()
        while time.monotonic() - started < cycles:
            time.sleep(min(5, cycles))
            samples.append(rss_kib(process.pid))
        requests = len(local.requests)
        local.script("/0.rss", Reply(200, feed(0, items, "Breaking: new statement of the KKE"),
                                     (("ETag", '"changed"'),)))
        changed = time.monotonic()
        while not served(port, "/party/kke.atom", "Breaking: new statement"):
            if time.monotonic() - changed > 120:
                process.kill()
                raise SystemExit("the update was not served within 120 s:\n" + "".join(log[-20:]))
            time.sleep(0.05)
        latency = time.monotonic() - changed
        samples.append(rss_kib(process.pid))
        peak = rss_kib(process.pid, "VmHWM")
        process.terminate()
        code = process.wait(timeout=60)
    return {"requests": requests, "rss_first_kib": samples[0], "rss_last_kib": samples[-1],
            "rss_max_kib": max(samples), "rss_peak_kib": peak, "latency": latency, "exit": code}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", type=int, default=50)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=60)
    parser.add_argument("--store", type=Path, help="start on a copy of this database")
    parser.add_argument("--log", type=Path, help="write the daemon's log here")
    args = parser.parse_args()
    found = watch(args.sources, args.items, args.cycles, args.store, args.log)
    print(f"sources={args.sources} items/source={args.items} cycles={args.cycles} (1 s interval)")
    print(f"requests served to the daemon: {found['requests']}")
    print(f"RSS KiB: first={found['rss_first_kib']} last={found['rss_last_kib']} "
          f"max sampled={found['rss_max_kib']} peak (VmHWM)={found['rss_peak_kib']}")
    print(f"update latency (source change -> served feed): {found['latency']:.2f} s "
          f"(bounded by interval 1 s + jitter 1 s + publish_delay 1 s)")
    print(f"exit status after SIGTERM: {found['exit']}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
