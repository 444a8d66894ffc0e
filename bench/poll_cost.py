"""CPU per unchanged poll: `python -m bench.poll_cost [--sources N] [--hosts H] [--polls K]`.

Serves N small feeds with bench/server.py on H ports, primes every source once
(so each has an ETag), then polls them all unchanged K times with
`feeds.fetch.fetch_all` for each variant, interleaved round by round so that
every variant sees the same noise. Prints the median CPU ms per request of the
whole process (every thread), the min–max, and the wall time per poll.
Add `--profile VARIANT` to print a cProfile of one serial poll in the main thread.

The variants: our client (http.client connections through netguard) with 8, 4, 2 and 1
threads; the reference, `HttpxClient` (httpx.Client on httpcore's pool, as httpx ships it);
and both again with no connection kept between requests ("new connections"), as a source polled
every few minutes meets its host after any keep-alive has expired.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.__main__ import serving
from bench.runs import SETTINGS
from feeds.fetch import (
    ACCEPT,
    ACCEPT_ENCODING,
    FetchResult,
    HttpClient,
    KeepAliveTransport,
    Reply,
    fetch,
    fetch_all,
    host_key,
    make_client,
    netguard,
)
from feeds.model import SourceState


def cpu_seconds() -> float:
    """This process's CPU: the feed server is a child here, and not ours to count."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FEED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>%d</title>'
        b"<item><title>An item</title><link>https://example.org/%d</link></item></channel></rss>\n")


class HttpxClient:
    """The reference stack: `fetch`'s client interface on httpx.Client and httpcore's pool.

    Without netguard's address checks (it would need an httpcore network backend of its
    own): they cost only when a connection opens, so on new connections this flatters httpx.
    """

    def __init__(self, keep_alive: bool = True, verify: bool | ssl.SSLContext = True) -> None:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=32 if keep_alive else 0)
        self.headers = {"User-Agent": SETTINGS.user_agent, "Accept": ACCEPT,
                        "Accept-Encoding": ACCEPT_ENCODING}
        self._client = httpx.Client(headers=self.headers, limits=limits, trust_env=False, verify=verify)

    def get(self, url: str, headers: dict[str, str], timeouts: dict[str, float]) -> Reply:
        timeout = httpx.Timeout(None, **timeouts)
        request = self._client.build_request("GET", url, headers=headers, timeout=timeout)
        return Reply.of(self._client.send(request, stream=True))

    def send(self, request: httpx.Request) -> httpx.Response:
        return self._client.send(request, stream=True)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpxClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def no_keep_alive() -> HttpClient:
    """Our client, keeping no connection idle: every request opens one (through netguard)."""
    policy = netguard.AddressPolicy(frozenset(SETTINGS.allow_hosts), SETTINGS.block_private)
    tls = httpx.create_ssl_context(trust_env=False)
    pool = netguard.Pool(netguard.GuardedConnector(policy), tls, max_idle=0)
    return make_client(SETTINGS, transport=KeepAliveTransport(pool))


@dataclass(frozen=True)
class Variant:
    name: str
    workers: int = 8
    client: Callable[[], AnyClient] = lambda: make_client(SETTINGS)


VARIANTS = {v.name: v for v in [
    Variant("fetch_all/8 threads"),
    Variant("fetch_all/4 threads", workers=4),
    Variant("fetch_all/2 threads", workers=2),
    Variant("fetch_all/1 thread", workers=1),
    Variant("httpx.Client/8 threads", client=HttpxClient),
    Variant("new connections/8 threads", client=no_keep_alive),
    Variant("httpx.Client new connections/8 threads", client=lambda: HttpxClient(keep_alive=False)),
]}


def write_feeds(directory: Path, count: int) -> list[str]:
    names = [f"feed-{index:05d}.xml" for index in range(count)]
    for index, name in enumerate(names):
        (directory / name).write_bytes(FEED % (index, index))
    return names


def next_states(states: Sequence[SourceState], results: Sequence[FetchResult]) -> list[SourceState]:
    """What polling would store: the validators and hash the fetch reported."""
    return [replace(s, etag=r.etag, last_modified=r.last_modified, body_hash=r.body_hash)
            for s, r in zip(states, results, strict=True)]


AnyClient = HttpClient | HttpxClient  # fetch takes either: the same get, send and close


def poll(client: AnyClient, states: Sequence[SourceState], workers: int,
         when: datetime) -> tuple[float, float]:
    """CPU and wall seconds of one unchanged poll of every state."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    results = fetch_all(client, states, SETTINGS, when, max_workers=workers)  # type: ignore[arg-type]
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    bad = [r for r in results if r.status != "not_modified"]
    if bad:
        raise RuntimeError(f"{len(bad)} polls were not 304s, e.g. {bad[0]}")
    return cpu, wall


def profile(client: AnyClient, states: Sequence[SourceState]) -> None:
    """cProfile of a serial poll on this thread (cProfile sees only the thread that starts it).

    Host by host, as a `fetch_all` worker goes, so that connections are reused as there.
    """
    profiler = cProfile.Profile(time.process_time)  # CPU, not the wait for the server
    profiler.enable()
    for state in sorted(states, key=lambda state: host_key(state.url)):
        fetch(client, state, SETTINGS, NOW)  # type: ignore[arg-type]
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(40)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.poll_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--polls", type=int, default=5, help="rounds; each round polls every source once")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    parser.add_argument("--profile", metavar="VARIANT", help="profile this variant instead of timing")
    args = parser.parse_args(argv)
    chosen = [VARIANTS[name] for name in (args.profile or args.variants).split(",")]
    with tempfile.TemporaryDirectory(prefix="poll-cost-") as temporary:
        names = write_feeds(Path(temporary), args.sources)
        with serving(Path(temporary), args.hosts) as ports:
            urls = [f"http://127.0.0.1:{ports[i % args.hosts]}/{name}" for i, name in enumerate(names)]
            fresh = [SourceState(f"s{i}", url) for i, url in enumerate(urls)]
            clients = [variant.client() for variant in chosen]
            states = next_states(fresh, fetch_all(clients[0], fresh, SETTINGS, NOW))  # type: ignore[arg-type]
            if args.profile:
                profile(clients[0], states)
                return 0
            timings: dict[str, list[tuple[float, float]]] = {v.name: [] for v in chosen}
            for variant, client in zip(chosen, clients, strict=True):
                poll(client, states, variant.workers, NOW)  # warm: connections open, imports done
            for round_ in range(args.polls):
                when = NOW + timedelta(hours=round_ + 1)
                for variant, client in zip(chosen, clients, strict=True):
                    timings[variant.name].append(poll(client, states, variant.workers, when))
            for client in clients:
                client.close()
    print(f"{args.sources} unchanged sources on {args.hosts} ports, {args.polls} polls each "
          f"(CPU of the whole process per request; median, min–max)")
    for name, runs in timings.items():
        cpu = [c * 1000 / args.sources for c, _ in runs]
        wall = statistics.median(w for _, w in runs)
        print(f"  {name:40} {statistics.median(cpu):6.3f} ms ({min(cpu):.3f}–{max(cpu):.3f})  "
              f"wall {wall:.2f} s/poll")
    return 0


if __name__ == "__main__":
    sys.exit(main())
