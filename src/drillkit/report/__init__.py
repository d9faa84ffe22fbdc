"""Reports: pure renderings of a scored drill (json, md, junit, html) and the history across runs."""
