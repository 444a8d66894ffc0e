"""partyfeeds pipeline library.

Ingest: seeds / fetch -> parse -> normalise -> tag -> dedupe -> store.
Publish: select -> render -> write.

`feeds.pipeline` is the one place that runs the stages in order. This package
knows nothing of the daemon's configuration file or of APScheduler.
"""
