"""The ``automechanica`` command: one module per command group, no SQL here."""
