"""The Feed Hub reference app: a small InteliFeed-Hub-like API that the sandbox runs per region."""
