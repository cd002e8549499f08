"""Training methods, one small module each; :func:`build_method` picks one by name."""
from __future__ import annotations

from importlib import import_module

from ..config import METHODS
from .base import Context, Method, Mixer, Pool

__all__ = ["Context", "Method", "Mixer", "Pool", "build_method", "METHODS"]


def build_method(ctx: Context) -> Method:
    """The method named ``ctx.cfg.method`` (see :data:`selecmix.config.METHODS`)."""
    name = ctx.cfg.method
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {METHODS}")
    return import_module(f"{__name__}.{name}").build(ctx)
