"""Workflows: steps of agent work chained by dependencies, advanced as tasks complete."""
