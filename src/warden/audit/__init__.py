"""Audit: hashing of secrets, Vault-shaped JSON lines with a hash chain, devices, verification.

Knows nothing above it: the core builds ``AuditRecord``s and hands them to devices.
"""
