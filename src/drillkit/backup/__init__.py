"""Backups: the Barman wrapper, the sandbox's backup scheduler, the policy check and the restore procedure."""
