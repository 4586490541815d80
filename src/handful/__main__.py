"""``python -m handful`` runs the CLI."""

from handful.cli import app

app()
