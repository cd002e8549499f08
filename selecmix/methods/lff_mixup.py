"""LfF + plain mixup (Table 4, "LfF + mixup"): LfF's update plus 0.1 x the mixup loss."""
from .base import Context, Method
from .lff import LfF
from .mixup import MixupMixer


def build(ctx: Context) -> Method:
    return LfF(ctx, MixupMixer(ctx), "lff_mixup")
