"""kv version 2: versioned secrets with metadata, check-and-set and soft deletes."""

from warden.engines.kv.v2.backend import KvV2Backend

__all__ = ["KvV2Backend"]
