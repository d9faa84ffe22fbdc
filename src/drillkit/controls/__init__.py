"""Chaos Toolkit controls."""
