"""gankit's version, in a module of its own so that gankit/__init__.py and checkpoint.py (which
writes it into generator files) both import it without importing each other."""

__version__ = "0.1.0"
