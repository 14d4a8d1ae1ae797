"""The package's version, in a module of its own so that any layer can read it without importing
the front doors that the package's entry points name."""

__version__ = "0.1.0"
