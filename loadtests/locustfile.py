"""InteliFeed Hub user journeys against the Feed Hub API, weighted like real traffic: mostly reading
the feed, then opening items, some posting, a little health checking.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8080
"""

from __future__ import annotations

import random

from locust import FastHttpUser, between, task

TENANTS = ["acme", "globex", "initech", "umbrella"]


class FeedReader(FastHttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.tenant = random.choice(TENANTS)
        self.seen: list[int] = []

    @task(6)
    def read_feed(self) -> None:
        with self.client.get(f"/api/feed?tenant={self.tenant}&limit=20", name="/api/feed",
                             catch_response=True) as response:
            if response.status_code == 200:
                self.seen = [item["id"] for item in response.json()["items"]][:20]
                response.success()

    @task(3)
    def open_item(self) -> None:
        if self.seen:
            self.client.get(f"/api/items/{random.choice(self.seen)}", name="/api/items/{id}")

    @task(1)
    def post_item(self) -> None:
        title = f"update {random.randint(1, 1_000_000)}"
        self.client.post("/api/items", json={"tenant": self.tenant, "title": title, "body": "drill"})

    @task(1)
    def health(self) -> None:
        self.client.get("/healthz")
