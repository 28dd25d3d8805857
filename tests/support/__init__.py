"""Test support: real server processes, the CLI runner, stand-in services."""
