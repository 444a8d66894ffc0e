"""partyfeeds daemon: reads config, runs the pipeline on a schedule, CLI."""
