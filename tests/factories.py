"""Small builders for test items."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from feeds.model import Item, SourceRef, item_id

T0 = datetime(2017, 12, 7, 10, 0, tzinfo=UTC)
# One story, two sources' headlines of it.
KKE_LONG = ("The Communist Party of Greece (KKE) condemned the recognition of Jerusalem as Israel's capital "
            "and declared its solidarity with the just struggle of the people of Palestine.")
KKE_SHORT = "KKE condemns recognition of Jerusalem as Israel's capital, declares solidarity with Palestine"


def make_item(title: str, *, source: str = "agency", link: str | None = None, party: str | None = None,
              **fields: Any) -> Item:
    """An item from one source; its id derives from source and title, like a guid would."""
    values: dict[str, Any] = {
        "id": item_id(f"{source}\x1f{title}"), "title": title, "link": link, "summary": title,
        "content": "", "published": T0, "updated": T0,
        "sources": (SourceRef(source, source.title(), link, party),),
    }
    values.update(fields)
    return Item(**values)
