"""Load: Locust run as a subprocess (it monkey-patches the standard library on import)."""
