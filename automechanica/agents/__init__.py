"""Agents: the units of work that tasks run."""
