"""The service registry: where every started service is recorded, found and updated."""

from plugin_core.registry.store import ServiceRecord, ServiceRegistry

__all__ = ["ServiceRecord", "ServiceRegistry"]
