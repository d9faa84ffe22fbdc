"""Pydantic models of drillkit's file formats, and how files are read into them."""
