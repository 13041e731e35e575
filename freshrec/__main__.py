"""``python -m freshrec``."""

from freshrec.cli.main import run

run()
