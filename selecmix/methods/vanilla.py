"""Vanilla: empirical risk minimisation with cross-entropy, the paper's "Vanilla" column."""
from .base import Context, Method


def build(ctx: Context) -> Method:
    return Method(ctx)
