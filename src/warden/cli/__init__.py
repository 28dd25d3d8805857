"""The warden command line: Vault's verbs and flags, over the HTTP API."""
