"""Real identity providers for the single sign-on tests, each run as its own process (harness.py starts them)."""
