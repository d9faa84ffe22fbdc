"""Database faults: the Patroni/PostgreSQL cluster."""
