"""``python -m freshrec.cli``."""

from freshrec.cli.main import run

run()
