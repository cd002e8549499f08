"""L+Ours: LfF's update plus 0.1 x the SelecMix loss (``lambda_base = 1``, ``lambda_ours = 0.1``).

Three models train together: LfF's biased ``b`` (GCE), the debiased ``f`` (LfF-weighted CE +
0.1 CE on the SelecMix batch) and SelecMix's auxiliary ``g`` (GSC)."""
from .base import Context, Method
from .lff import LfF
from .selecmix import SelecMixMixer


def build(ctx: Context) -> Method:
    return LfF(ctx, SelecMixMixer(ctx), "lff_selecmix")
