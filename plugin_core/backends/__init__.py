"""Backends: how a service's process or container is run. Each module is one kind of service."""
