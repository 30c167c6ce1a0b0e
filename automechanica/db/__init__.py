"""The database layer: embedded server, connection pool, migrations, diagnostics."""
