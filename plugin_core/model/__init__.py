"""Typed models of services: state, status, type, config, endpoints, monitors and policies."""
