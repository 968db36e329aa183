"""Placeholder while the diff command is being written (replaced before commit)."""

import typer


def diff(ctx: typer.Context) -> None:
    """(being written)"""
