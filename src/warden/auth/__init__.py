"""Credential backends (auth methods); each knows only the framework and its storage."""
