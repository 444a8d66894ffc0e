"""Progress bars for long commands on an interactive terminal (tqdm); elsewhere, the log alone.

`once`, `publish` and `import-opml` hand the pipeline a `Progress` callback; this one keeps a
bar per stage ("seed documents", "sources", "files") on standard error, with the running
counts beside it, and routes log lines above the bars so neither garbles the other.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TextIO

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from feeds.reports import Progress, Step


class Bars:
    """A `Progress` that draws one bar per stage on `stream`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._bars: dict[str, tqdm] = {}

    def __call__(self, step: Step) -> None:
        bar = self._bars.get(step.stage)
        if bar is None:
            bar = self._bars[step.stage] = tqdm(total=step.total, desc=step.stage, unit="", file=self._stream,
                                                dynamic_ncols=True, leave=True)
        bar.update(step.done)
        if step.counts:
            bar.set_postfix(step.counts, refresh=False)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


@contextlib.contextmanager
def progress_bars(stream: TextIO | None = None) -> Iterator[Progress | None]:
    """Bars on `stream` (standard error) if it is a terminal, else None: log lines stay as they are."""
    stream = stream or sys.stderr
    if not stream.isatty():
        yield None
        return
    bars = Bars(stream)
    try:
        with logging_redirect_tqdm():
            yield bars
    finally:
        bars.close()
