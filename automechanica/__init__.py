"""automechanica: multi-agent workflows on a durable PostgreSQL task queue."""

__version__ = "0.1.0"
