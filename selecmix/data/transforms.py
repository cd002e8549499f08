"""From uint8 images to model inputs, on whole batches of tensors (no per-image PIL work).

Each dataset has an :class:`InputPipeline` that gives

* ``f``'s training input -- augmented as in the official code (Corrupted CIFAR-10: random crop
  32 with padding 4, horizontal flip, CIFAR normalisation; BFFHQ: resize 224, random crop with
  padding 4, flip, normalisation; Colored MNIST: none);
* ``f``'s evaluation input (no augmentation);
* the auxiliary model ``g``'s input: never augmented ("single view"), and for Colored MNIST always
  on the clean [0, 1] scale.

Colored MNIST and the input-scaling quirk: LfF, DFA and the official SelecMix code divide the
images by 255 *after* ``ToTensor`` has already scaled them to [0, 1], so the MLP ``f`` sees values
in [0, 1/255]. The paper's Colored MNIST numbers were produced that way, so ``input_scale =
"official"`` reproduces it for ``f``; ``"clean"`` feeds [0, 1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

CIFAR_MEAN = torch.tensor([0.4914, 0.4822, 0.4465])
CIFAR_STD = torch.tensor([0.2470, 0.2435, 0.2616])


def normalize(x: torch.Tensor, mean: torch.Tensor = CIFAR_MEAN, std: torch.Tensor = CIFAR_STD) -> torch.Tensor:
    return (x - mean.to(x)[:, None, None]) / std.to(x)[:, None, None]


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Per-image random crop of the original size from the zero-padded batch (torchvision's
    ``RandomCrop(size, padding)``), vectorised with one gather."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    top = torch.randint(0, 2 * padding + 1, (n,), generator=gen).to(x.device)
    left = torch.randint(0, 2 * padding + 1, (n,), generator=gen).to(x.device)
    rows = (top[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (left[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Flip each image horizontally with probability 1/2."""
    flip = (torch.rand(len(x), generator=gen) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


class InputPipeline:
    """Turns uint8 batches into the inputs of ``f`` and ``g`` for one dataset."""

    def __init__(self, dataset: str, input_scale: str = "official", image_size: int | None = None):
        self.dataset = dataset
        self.input_scale = input_scale
        self.image_size = image_size or (224 if dataset == "bffhq" else None)

    @property
    def deterministic(self) -> bool:
        """Whether an image's inputs are the same every time (no augmentation, no resizing):
        Colored MNIST. Training then converts each split once instead of in every epoch."""
        return self.dataset == "cmnist"

    def _float(self, images: torch.Tensor, device) -> torch.Tensor:
        x = images.to(device, non_blocking=True).float().div_(255)
        if self.image_size and x.shape[-1] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                              antialias=True, align_corners=False)
        return x

    def g_input(self, images: torch.Tensor, device="cpu") -> torch.Tensor:
        x = self._float(images, device)
        return x if self.dataset == "cmnist" else normalize(x)

    def f_eval(self, images: torch.Tensor, device="cpu") -> torch.Tensor:
        x = self._float(images, device)
        if self.dataset == "cmnist":
            return x / 255 if self.input_scale == "official" else x
        return normalize(x)

    def f_train(self, images: torch.Tensor, gen: torch.Generator, device="cpu") -> torch.Tensor:
        if self.dataset == "cmnist":
            return self.f_eval(images, device)
        x = self._float(images, device)
        return normalize(random_flip(random_crop(x, 4, gen), gen))
