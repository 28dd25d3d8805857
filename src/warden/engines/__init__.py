"""Secrets engines: backends mounted under a path that store or generate secrets."""
