"""Background services that keep the queue healthy; each has the shape of ``Service``."""
