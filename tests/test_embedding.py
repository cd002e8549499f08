"""selecmix.embedding: Eq. 3's pair weights, the per-anchor loss, g trained alone (Fig. 2),
features / t-SNE / probes (Fig. 4, Table 3) on the embedded Colored MNIST sample."""
from __future__ import annotations

import math

import matplotlib
import pytest
import torch
import torch.nn.functional as F

matplotlib.use("Agg")

from selecmix.book.ch03_sc_vs_gsc import PAIR_KINDS, anchor_loss, anchor_pulls, draw_gsc_weights, features_of, gce_gradient_ratio, gsc_pair_weights, gsc_weight_explorer, gsc_weight_static, paper_table3_frame, plot_similarity_panels, plot_tsne_grid, probe_bias, probe_frame, recorded_probe_frame, recorded_similarity_curves, subsample, toy_anchor, toy_anchor_table, train_auxiliary, train_ratio, tsne_2d
from selecmix.book import train_quietly
from selecmix.config import make_config
from selecmix.losses import gsc_loss, supcon_loss


@pytest.fixture(scope="module")
def tiny():
    from selecmix.data import load_splits

    return load_splits("cmnist", 5.0, source="embedded", train_size=600)


def test_weight_ratio_depends_on_similarity_only():
    sims = torch.tensor([0.9, 0.1, 0.5, -0.2], dtype=torch.float64)
    w = gsc_pair_weights(sims, tau=0.2, q=0.7)
    assert math.isclose(float(w["p"].sum()), 1.0, rel_tol=1e-12)
    assert math.isclose(float(w["weight"][0] / w["weight"][1]), math.exp(0.7 * 0.8 / 0.2), rel_tol=1e-9)


@pytest.mark.parametrize("q", [None, 0.7])
def test_anchor_loss_matches_package_losses(q):
    g = torch.Generator().manual_seed(3)
    z = F.normalize(torch.randn(9, 4, generator=g, dtype=torch.float64), dim=1)
    y = torch.tensor([0, 0, 1, 1, 1, 2, 2, 0, 3])
    sim = z @ z.T
    per_anchor = []
    for i in range(len(y)):
        others = torch.arange(len(y)) != i
        per_anchor.append(anchor_loss(sim[i, others], (y[others] == y[i]), 0.2, q))
    expected = supcon_loss(z, y, 0.2) if q is None else gsc_loss(z, y, 0.2, q)
    assert math.isclose(float(torch.stack(per_anchor).mean()), float(expected), rel_tol=1e-9)


def test_gsc_spares_contradicting_pairs():
    toy = toy_anchor()
    kinds = toy["kind"]
    cp, cn = kinds.index("contradicting_positive"), kinds.index("contradicting_negative")
    sc = anchor_pulls(toy["sim"], toy["positive"], 0.2, None)
    gsc = anchor_pulls(toy["sim"], toy["positive"], 0.2, 0.7)
    assert sc[cp] > 0 and gsc[cp] > 0                 # both pull the contradicting positive closer ...
    assert sc[cp] > 20 * gsc[cp]                      # ... SC far harder than GSC
    assert sc[cn] < gsc[cn] < 0                       # and SC pushes the contradicting negative away harder
    table = toy_anchor_table()
    assert len(table) == 4 and table["GSC weight p_ik^q"].max() <= 1


def test_gce_gradient_is_ce_gradient_times_q_p_to_the_q():
    g = torch.Generator().manual_seed(0)
    out = gce_gradient_ratio(torch.randn(5, 3, generator=g), torch.tensor([0, 1, 2, 0, 1]), q=0.7)
    assert torch.allclose(out["measured"], out["q_p_y^q"], atol=1e-10)


def test_train_auxiliary_records_fig2_curves(tiny):
    run = train_auxiliary(tiny, "gsc", epochs=2, probe_size=300)
    assert run.curves["epoch"] == [0, 1, 2]
    for kind in PAIR_KINDS:
        assert len(run.curves[kind]) == 3 and all(-1 <= v <= 1 for v in run.curves[kind])
    z = run.embed(tiny.test)
    assert z.shape == (len(tiny.test), 128) and torch.allclose(z.norm(dim=1), torch.ones(len(z)), atol=1e-5)
    assert run.ratio == 5.0
    with pytest.raises(ValueError):
        train_auxiliary(tiny, "ce")
    fig = plot_similarity_panels({"GSC": run.curves, "SC": {}})
    assert len(fig.axes) == 2


def test_features_probe_and_tsne(tiny):
    run = train_auxiliary(tiny, "sc", epochs=1)
    acc = probe_bias(run, tiny)
    assert 0 <= acc <= 100
    tiny_cfg = dict(epochs=1, train_size=600, large_batch=256, batch_size=64)
    lff = train_quietly(make_config("cmnist", 5.0, "lff", "fast", **tiny_cfg), tiny, keep=True)
    assert features_of(lff["method"], tiny.test).shape == (len(tiny.test), 16)
    sm = train_quietly(make_config("cmnist", 5.0, "selecmix", "fast", **tiny_cfg), tiny, keep=True)
    assert features_of(sm["method"], tiny.test).shape == (len(tiny.test), 128)
    with pytest.raises(TypeError):
        features_of(object(), tiny.test)
    sub = subsample(tiny.test, 60)
    xy = tsne_2d(features_of(run, sub), max_iter=250)
    assert xy.shape == (60, 2)
    fig = plot_tsne_grid({("a", "SC"): (xy, sub.b), ("a", "GSC"): (xy, sub.b)})
    assert len(fig.axes) == 2
    frame = probe_frame({("SC", 5.0): acc, ("LfF", 5.0): probe_bias(lff["method"], tiny)})
    assert list(frame.columns) == ["5 %"]


def test_recorded_curves_and_probes_from_result_dicts():
    def fake(label, seed, sim, probe):
        history = [{"epoch": e, "aux": {f"sim_{k}": sim + e for k in PAIR_KINDS}} for e in range(3)]
        return {"label": label, "dataset": "cmnist", "ratio": 1.0, "profile": "paper", "seed": seed,
                "history": history, "aux_bias_probe": probe}

    results = [fake("selecmix", 0, 0.0, 80.0), fake("selecmix", 1, 0.2, 90.0)]
    curves = recorded_similarity_curves(results, "selecmix")
    assert curves["n"] == 2 and curves["epoch"] == [1, 2, 3]
    assert curves["positive"] == pytest.approx([0.1, 1.1, 2.1])
    assert recorded_similarity_curves(results, "selecmix-simsc")["n"] == 0
    frame = recorded_probe_frame(results)
    assert frame.loc["g trained with GSC (SelecMix)", "1 %"] == "85.00 ± 7.07 (n=2)"
    assert frame.loc["LfF (GCE biased model)", "1 %"] == "not yet recorded"
    assert paper_table3_frame().loc["Ours (GSC)", ("cifar10c", "1 %")] == "93.39 ± 0.02"


def test_widget_and_static_twin():
    assert len(gsc_weight_static().axes) == 2
    draw_gsc_weights(0.5, 0.3)
    pytest.importorskip("ipywidgets")
    assert bytes(gsc_weight_explorer().children[-1].value).startswith(b"\x89PNG")


def test_train_ratio(tiny):
    assert train_ratio(tiny.train) == 5.0


def test_similarity_groups_against_the_pairwise_loop():
    from selecmix.experiments.pair_stats import similarity_groups

    gen = torch.Generator().manual_seed(3)
    z = torch.nn.functional.normalize(torch.randn(40, 8, generator=gen), dim=1)
    y = torch.randint(0, 3, (40,), generator=gen)
    b = torch.where(torch.rand(40, generator=gen) < 0.7, y, torch.randint(0, 3, (40,), generator=gen))
    sums, counts = {}, {}
    for i in range(40):
        for j in range(40):
            if i == j:
                continue
            kinds = ["positive" if y[i] == y[j] else "negative"]
            if y[i] == y[j] and b[i] != b[j]:
                kinds.append("contradicting_positive")
            if y[i] != y[j] and b[i] == b[j]:
                kinds.append("contradicting_negative")
            for k in kinds:
                sums[k] = sums.get(k, 0.0) + float(z[i] @ z[j])
                counts[k] = counts.get(k, 0) + 1
    got = similarity_groups(z, y, b)
    for k in sums:
        assert got[k] == pytest.approx(sums[k] / counts[k], abs=1e-6)
    # no pair of a kind -> NaN (all one label: no negatives, no contradicting negatives)
    same = similarity_groups(z[:5], torch.zeros(5, dtype=torch.long), torch.zeros(5, dtype=torch.long))
    assert math.isnan(same["negative"]) and math.isnan(same["contradicting_positive"])
