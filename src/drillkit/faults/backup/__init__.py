"""Backup faults and restores: a destructive migration, and the restores that answer it."""
