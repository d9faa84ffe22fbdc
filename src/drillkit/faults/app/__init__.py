"""App-tier faults: the Feed Hub app in one region."""
