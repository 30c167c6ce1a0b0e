"""The durable task queue: states, the task repository, the worker, maintenance services."""
