"""DFA, EnD, ReBias and HEX on the embedded Colored MNIST sample: each loss against a literal loop
of its equation, the stop-gradients that matter, training in the fast profile and exact resume."""
from __future__ import annotations

import math

import pytest
import torch

from selecmix.config import make_config
from selecmix.methods.dfa import DFANet, dfa_loss
from selecmix.methods.end import end_regularisers
from selecmix.methods.hex import NGLCM, project_out
from selecmix.methods.rebias import PixelNet, hsic_unbiased
from selecmix.experiments.runs import train_run

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = dict(epochs=2, train_size=600, large_batch=256, batch_size=64)
# settings that make the short runs exercise every branch: DFA's swap and lr decay, the StepLR
EXERCISE = {"dfa": dict(dfa_curr_step=4, dfa_lr_decay_step=3), "end": dict(baseline_lr_step=1),
            "rebias": dict(baseline_lr_step=1), "hex": {}}


@pytest.fixture(scope="module")
def tiny():
    from selecmix.data import load_splits

    return load_splits("cmnist", 5.0, source="embedded", train_size=600)


@pytest.fixture(scope="module")
def batch(tiny):
    """48 real training images (clean [0, 1]), labels and bias labels."""
    train_set = tiny.train
    idx = torch.arange(48)
    return train_set.images[idx].float() / 255, train_set.y[idx], train_set.b[idx]


def _features(x: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)
    from selecmix.models import make_classifier

    return make_classifier("mlp", 0)(x)


# ---------------------------------------------------------------- EnD
def test_end_regularisers_match_a_loop(batch):
    x, y, b = batch
    feats = _features(x).detach()
    r_perp, r_par = end_regularisers(feats, y, b)
    d = feats / feats.norm(dim=1, keepdim=True).clamp_min(1e-12)
    n = len(d)
    per_bias, same_b, par_sum, par_n = {}, 0, 0.0, 0
    for i in range(n):
        for j in range(i):
            g = max(-1.0, min(1.0, float(d[i].detach() @ d[j].detach())))
            if b[i] == b[j]:
                per_bias[int(b[i])] = per_bias.get(int(b[i]), 0.0) + g
                same_b += 1
            elif y[i] == y[j]:
                par_sum += (1 + g) / 2
                par_n += 1
    assert par_n > 0 and same_b > 0
    assert float(r_perp) == pytest.approx(sum(abs(v) for v in per_bias.values()) / same_b, rel=1e-5, abs=1e-6)
    assert float(r_par) == pytest.approx(1 - par_sum / par_n, rel=1e-5, abs=1e-6)


def test_end_without_pairs_is_zero():
    feats = torch.randn(3, 4)
    r_perp, r_par = end_regularisers(feats, torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]))
    assert float(r_perp) == 0.0 and float(r_par) == 0.0


# ---------------------------------------------------------------- ReBias
def test_hsic_matches_a_loop(batch):
    x, _, _ = batch
    u, v = 10 * _features(x)[:20].detach(), PixelNet(3, 8, 2)(x[:20]).detach()
    m, sigma = len(u), 1.0
    k = [[0.0 if i == j else math.exp(-float((u[i] - u[j]).pow(2).sum()) / (2 * sigma ** 2)) for j in range(m)]
         for i in range(m)]
    l = [[0.0 if i == j else math.exp(-float((v[i] - v[j]).pow(2).sum()) / (2 * sigma ** 2)) for j in range(m)]
         for i in range(m)]
    trace = sum(k[i][j] * l[j][i] for i in range(m) for j in range(m))
    sk, sl = sum(map(sum, k)), sum(map(sum, l))
    triple = sum(k[i][j] * l[j][t] for i in range(m) for j in range(m) for t in range(m))
    expected = (trace + sk * sl / ((m - 1) * (m - 2)) - 2 / (m - 2) * triple) / (m * (m - 3))
    assert float(hsic_unbiased(u, v, sigma)) == pytest.approx(expected, rel=1e-4, abs=1e-7)
    # dependent features score higher than independent ones
    assert float(hsic_unbiased(u, u)) > abs(float(hsic_unbiased(u, torch.randn(m, 8))))


def test_pixelnet_sees_single_pixels(batch):
    """g's receptive field is one pixel: shuffling the pixels of an image leaves its features alone."""
    x, _, _ = batch
    g = PixelNet(3, 8, 4).eval()
    perm = torch.randperm(28 * 28)
    shuffled = x.flatten(2)[:, :, perm].view_as(x)
    assert torch.allclose(g.features(x), g.features(shuffled), atol=1e-5)


def test_rebias_alternating_updates(tiny):
    """g's step leaves f's parameters alone and f's step leaves g's (and neither leaks gradients)."""
    r = train_run(make_config("cmnist", 5.0, "rebias", "fast", **{**TINY, "epochs": 1}), splits=tiny, progress=False,
              keep=True)
    method = r["method"]
    x, y = method.ctx.f_inputs(torch.arange(64)), tiny.train.y[:64]
    x_g = method.ctx.g_inputs(torch.arange(64))
    snap = lambda m: [p.detach().clone() for p in m.parameters()]
    f0, g0 = snap(method.f), snap(method.g)
    method.opt_f.zero_grad(set_to_none=True)
    method.g_step(x, x_g, y)
    assert all(torch.equal(a, b) for a, b in zip(f0, method.f.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(g0, method.g.parameters()))
    assert all(p.grad is None for p in method.f.parameters())
    g1 = snap(method.g)
    method.opt_g.zero_grad(set_to_none=True)
    method.f_step(x, x_g, y)
    assert all(torch.equal(a, b) for a, b in zip(g1, method.g.parameters()))
    assert all(p.grad is None for p in method.g.parameters())
    assert not all(torch.equal(a, b) for a, b in zip(f0, method.f.parameters()))


# ---------------------------------------------------------------- DFA
def _gce_loop(logits, y, q):
    out = []
    for i in range(len(y)):
        p = torch.softmax(logits[i], 0)[y[i]]
        out.append(-torch.log(p) * p.detach() ** q * q)
    return torch.stack(out).mean()


def test_dfa_loss_matches_a_loop(batch):
    x, y, _ = batch
    torch.manual_seed(0)
    net = DFANet("mlp", 10)
    z_i, z_b = net.E_i(x), net.E_b(x)
    weight, perm = torch.rand(len(y)), torch.randperm(len(y))
    got = dfa_loss(net, z_i, z_b, y, weight, perm, 10.0, 5.0, 0.5, 0.7)
    ce_w = lambda logits, labels: sum(weight[i] * -torch.log_softmax(logits[i], 0)[labels[i]]
                                      for i in range(len(y))) / len(y)
    l_dis = ce_w(net.C_i(torch.cat([z_i, z_b], 1)), y) + 10.0 * _gce_loop(net.C_b(torch.cat([z_i, z_b], 1)), y, 0.7)
    swapped = torch.stack([z_b[perm[i]] for i in range(len(y))])
    l_swap = ce_w(net.C_i(torch.cat([z_i, swapped], 1)), y) + \
        5.0 * _gce_loop(net.C_b(torch.cat([z_i, swapped], 1)), torch.stack([y[perm[i]] for i in range(len(y))]), 0.7)
    assert float(got.detach()) == pytest.approx(float(l_dis + 0.5 * l_swap), rel=1e-5)
    assert float(dfa_loss(net, z_i, z_b, y, weight, None, 10.0, 5.0, 0.5, 0.7)) == pytest.approx(float(l_dis), rel=1e-5)


@pytest.mark.parametrize("swap", [False, True])
def test_dfa_stop_gradients(batch, swap):
    """The intrinsic side's losses (C_i) send no gradient into z_b, the bias side's (C_b) none into
    z_i -- also through the swapped features."""
    x, y, _ = batch
    torch.manual_seed(0)
    net = DFANet("mlp", 10)
    perm = torch.randperm(len(y)) if swap else None
    for intrinsic in (True, False):
        z_i, z_b = net.E_i(x).detach().requires_grad_(), net.E_b(x).detach().requires_grad_()
        weight = torch.ones(len(y)) if intrinsic else torch.zeros(len(y))
        lam = 0.0 if intrinsic else 1.0
        dfa_loss(net, z_i, z_b, y, weight, perm, lam, lam, 1.0, 0.7).backward()
        silent, moved = (z_b, z_i) if intrinsic else (z_i, z_b)
        assert silent.grad is None or torch.count_nonzero(silent.grad) == 0
        assert torch.count_nonzero(moved.grad) > 0


def test_dfa_swaps_after_curr_step_and_decays_lr(tiny):
    cfg = make_config("cmnist", 5.0, "dfa", "fast", **TINY, dfa_curr_step=4, dfa_lr_decay_step=3)
    method = train_run(cfg, splits=tiny, progress=False, keep=True)["method"]
    assert method.steps == 16
    assert method.learning_rate() == pytest.approx(cfg.lr * cfg.dfa_lr_gamma ** ((16 - 4) // 3))
    assert make_config("cmnist", 1.0, "dfa", "paper").lr == 0.01


# ---------------------------------------------------------------- HEX
def test_nglcm_matches_a_loop(batch):
    x, _, _ = batch
    torch.manual_seed(0)
    branch = NGLCM(levels=16, hidden=32)
    got = branch.cooccurrence(x[:2])
    lam, theta = branch.lam.tolist(), branch.theta.tolist()
    clip = lambda v: min(1.0, max(0.0, v))
    for n in range(2):
        grey = 0.299 * x[n, 0] + 0.587 * x[n, 1] + 0.114 * x[n, 2]
        q = torch.round(grey * 15)
        expected = torch.zeros(16, 16)
        for r in range(28):
            for c in range(27):
                d, v = abs(float(q[r, c + 1] - q[r, c])), float(q[r, c])
                for a in range(16):
                    for bb in range(16):
                        expected[a, bb] += clip(d - lam[a]) * clip(v - theta[bb])
        assert torch.allclose(got[n], expected / (28 * 27), atol=1e-5)


def test_projection_removes_the_texture_component():
    torch.manual_seed(0)
    f_p, f_g = torch.randn(64, 10), torch.randn(64, 10)
    f_l = project_out(f_p, f_g, ridge=1e-9)
    exact = f_p - f_g @ torch.linalg.pinv(f_g) @ f_p
    assert torch.allclose(f_l, exact, atol=1e-4)
    assert (f_g.T @ f_l).abs().max() < 1e-3                  # orthogonal to what texture explains
    # rank-deficient F_G (dead texture units): finite values and gradients
    f_g = torch.randn(64, 2) @ torch.randn(2, 10)
    f_p.requires_grad_()
    out = project_out(f_p, f_g.requires_grad_(), ridge=1e-3)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(f_p.grad).all() and torch.isfinite(f_g.grad).all()


# ---------------------------------------------------------------- every method
@pytest.mark.parametrize("method", ["dfa", "end", "rebias", "hex"])
def test_trains_and_resumes_to_the_same_numbers(method, tiny, tmp_path):
    cfg = make_config("cmnist", 5.0, method, "fast", **TINY, **EXERCISE[method])
    full = train_run(cfg, splits=tiny, progress=False)
    assert len(full["history"]) == 2 and full["method"] == method and full["label"].startswith(method)
    assert all(0 <= full[k] <= 100 for k in ("best_test_unbiased", "last_test_unbiased"))
    # f's hidden layers are counted (HEX: its encoder; DFA: its intrinsic encoder), so the one
    # collapse rule can tell a dead layer from a merely poor run
    units = full["f_active_units"]
    assert len(units) == 3 and all(0 <= u <= w for u, w in zip(units, (100, 100, 16))) and units[0] > 0
    part = train_run(cfg, splits=tiny, progress=False, stop_after=1, checkpoint_dir=tmp_path)
    assert part["incomplete"]
    resumed = train_run(cfg, splits=tiny, progress=False, resume=True, checkpoint_dir=tmp_path)
    strip = lambda r: [{k: v for k, v in h.items() if k != "seconds"} for h in r["history"]]
    assert strip(full) == strip(resumed)


def test_paper_profile_values():
    dfa = make_config("cifar10c", 0.5, "dfa", "paper")
    assert (dfa.lr, dfa.dfa_lambda_dis, dfa.dfa_lambda_swap) == (0.0005, 1.0, 1.0)
    assert make_config("cifar10c", 2.0, "dfa", "paper").dfa_lambda_swap_align == 5.0
    bffhq = make_config("bffhq", 0.5, "dfa", "paper")
    assert (bffhq.lr, bffhq.dfa_lambda_swap, bffhq.dfa_lr_gamma) == (0.0001, 0.1, 0.1)
    end = make_config("cmnist", 1.0, "end", "paper")
    assert (end.end_alpha, end.end_beta, end.lr, end.weight_decay, end.epochs, end.baseline_lr_step) == \
        (0.1, 0.1, 1e-3, 1e-4, 80, 20)
    hexcfg = make_config("cmnist", 1.0, "hex", "paper")
    assert (hexcfg.lr, hexcfg.batch_size, hexcfg.epochs, hexcfg.hex_levels) == (1e-4, 128, 100, 16)
    # the other methods' configs are untouched by the new fields
    assert make_config("cmnist", 1.0, "vanilla", "paper").lr == 0.005


def test_pixelnet_background_trick_is_exact(batch):
    """The black-pixel shortcut gives the plain 1x1-conv net's features and BatchNorm statistics
    (in float64: in float32 both round differently, by ~1e-3 where a channel's variance is near BatchNorm's
    epsilon; the shortcut is the closer of the two to the float64 value)."""
    x, _, _ = batch
    x = x.double()
    torch.manual_seed(0)
    g = PixelNet(3, 8, 4).double()
    plain = torch.nn.Sequential(*[m for pair in zip(g.linears, g.norms) for m in (*pair, torch.nn.ReLU())])
    import copy

    reference = copy.deepcopy(plain)
    pixels = x.permute(0, 2, 3, 1).reshape(-1, 3)
    expected = reference(pixels).view(len(x), -1, 8).mean(1)
    assert torch.allclose(g.features(x), expected, atol=1e-10)
    for mine, ref in zip(g.norms, [m for m in reference if isinstance(m, torch.nn.BatchNorm1d)]):
        assert torch.allclose(mine.running_mean, ref.running_mean, atol=1e-10)
        assert torch.allclose(mine.running_var, ref.running_var, atol=1e-10)
