"""Contracts shared by every layer: requests, responses, storage, errors, the clock.

Nothing here imports any other part of warden, so every layer may depend on it.
"""
