"""Load faults: traffic spikes from Locust."""
