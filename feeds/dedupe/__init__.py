"""Deduplicate: is an incoming item one the store already holds, or the same story as one?

Enters: tagged `Item`s of one batch (a feed, a seed file) and the `Store`. Leaves: each item's
outcome (new, merged, revised, unchanged), written inside the caller's transaction.

- keys.py      identity keys: the item's id and its identifying links (exact matches)
- titles.py    a title's words, numbers and codes; MinHash signatures and LSH band keys
- rules.py     whether two items of different sources are one story, and which rule said so
- merge.py     one entry out of two: every source credited, the party's own text first
- lookup.py    what a batch needs from the store, read once; bandcache.py: bands in memory
- accept.py    the stage itself: key, then band neighbours, then merge or store as new
- split.py     undoing a merge: a source's own entry becomes its own item again
- upgrade.py   bringing a store's bands and merges made under older rules up to date

Must not import fetch, parse, publish or the scheduler: it sees items, never feeds. This
package's __init__ imports nothing, so feeds.store may use its band cache.
The rules, with examples of both kinds: docs/dedupe.md.
"""
