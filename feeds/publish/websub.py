"""WebSub: tell the hub which feeds changed, so subscribers get them at once."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from feeds.fetch import HttpClient, post_form

log = logging.getLogger(__name__)
HUB_TIMEOUT = 10.0


def notify_hub(client: HttpClient, hub_url: str, feed_urls: Iterable[str]) -> dict[str, int | str]:
    """Send one `hub.mode=publish` ping per changed feed; the outcome per feed URL.

    A hub that fails is logged, never an error of the publish: the feeds are
    already written, and subscribers will still poll them.
    """
    outcomes: dict[str, int | str] = {}
    for url in feed_urls:
        outcome = post_form(client, hub_url, {"hub.mode": "publish", "hub.url": url}, HUB_TIMEOUT)
        outcomes[url] = outcome
        if not (isinstance(outcome, int) and 200 <= outcome < 300):
            log.warning("websub hub=%s feed=%s status=error error=%r", hub_url, url, outcome)
    if outcomes:
        log.info("websub hub=%s notified=%d", hub_url, len(outcomes))
    return outcomes
