"""``warden agent``: log in, keep the token alive, write token sinks, certificates and
rendered templates, and renew them before they expire.

The agent is a client: it reaches the server only over HTTP through ``warden.api``.
"""
