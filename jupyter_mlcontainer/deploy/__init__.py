"""Shipping built images: to a registry, over the engine protocol."""
