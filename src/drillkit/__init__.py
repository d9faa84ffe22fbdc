"""drillkit: chaos and disaster-recovery drills for the InteliFeed Hub platform."""

__version__ = "0.1.0"
