"""The performance suite: `python -m bench` (see docs/performance.md).

It generates its own deterministic corpus (bench.corpus), serves it from
127.0.0.1 (bench.server, in a child process), runs each measurement in a
fresh child process (bench.runs) and prints one table (bench.report).
"""
