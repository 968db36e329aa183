"""Placeholder while the vectorize command is being written (replaced before commit)."""

import typer


def vectorize(ctx: typer.Context) -> None:
    """(being written)"""
