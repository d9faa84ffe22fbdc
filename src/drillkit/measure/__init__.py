"""Measurement: the clock, probers, the write ledger, the recovery timeline and SLIs."""
