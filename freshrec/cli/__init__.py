"""The ``freshrec`` command line (typer + rich)."""
