"""LfF + plain mixup (Table 4, "LfF + mixup"): LfF's update plus 0.1 x the mixup loss."""
from .base import Context, Method
from .lff import LfF
from .mixup import MixupMixer


def build(ctx: Context) -> Method:
    method = LfF(ctx, MixupMixer(ctx))
    method.name = "lff_mixup"
    return method
