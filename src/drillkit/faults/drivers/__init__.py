"""Drivers carry out faults on one kind of environment; activities speak only to the `Driver` protocol."""
