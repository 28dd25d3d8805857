"""The trusted kernel: seal, barrier, mounts, router, tokens, policies, audit."""
