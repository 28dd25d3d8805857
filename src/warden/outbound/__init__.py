"""Outbound adapters: the only code that calls other services over the network.

Each adapter implements a Protocol declared by the backend that needs it and is
handed to that backend by the composition root through ``BackendConfig.services``;
backends never import this package. Adapters import only ``warden.logical`` and
their client library (httpx).
"""
