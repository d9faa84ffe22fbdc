"""A Locust LoadTestShape that follows stages given in DRILLKIT_LOAD_STAGES (JSON).

Imported only by Locust processes, passed as a second locustfile (`-f locustfile.py,locust_shape.py`):
never import it into drillkit's own process, because importing locust monkey-patches the standard
library. Each stage is {"duration": seconds, "users": n, "spawn_rate": per second}.
"""

from __future__ import annotations

import json
import os

from locust import LoadTestShape

from drillkit.loadtest.records import STAGES_ENV


class StagedShape(LoadTestShape):
    def __init__(self) -> None:
        super().__init__()
        self.stages = json.loads(os.environ[STAGES_ENV])

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        for stage in self.stages:
            if elapsed < stage["duration"]:
                return stage["users"], stage["spawn_rate"]
            elapsed -= stage["duration"]
        return None  # the last stage is over: Locust stops
