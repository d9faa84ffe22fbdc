"""Backups: the barman wrapper, the sandbox's backup server loop, the policy check and restores."""
