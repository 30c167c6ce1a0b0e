from automechanica.cli.main import run

run()
