"""The chapters' walk-throughs (selecmix.walkthrough) on the embedded Colored MNIST sample."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from selecmix.book.ch04_pair_selection import aux_series, discovery_at_end, discovery_bars, discovery_curves, discovery_frame, discovery_summary, make_pool, ordering_frame, pair_explorer, pairs_figure, pick_queries, precision_windows, query_figure, recorded_discovery, similarity_figure, table2_frame, table2_label, table2_runs, walk_pool
from selecmix.book.ch02_mixup_with_bias_labels import bias_label_pairs_figure, conflicting_share, draw_lambda_view, example_queries, expected_conflicting_share, has_partner, label_text, lambda_explorer, lambda_static, mix, mixup_demo, protocol_frame, soft_label, to_float, true_partners
from selecmix.book import live_runs, run_frame
from selecmix.book.recorded import recorded_runs
from selecmix.selection import is_contradicting


@pytest.fixture(scope="module")
def small(cmnist_embedded):
    """The embedded sample cut to 1,536 training images (all 36 bias-conflicting ones kept) and
    300 test images, so that a training epoch takes a moment."""
    from selecmix.data import BiasedSplits

    train = cmnist_embedded.train
    keep = torch.cat([torch.nonzero(train.conflicting).flatten(), torch.nonzero(train.aligned).flatten()[:1500]])
    return BiasedSplits(train.subset(keep.sort().values), cmnist_embedded.valid.subset(torch.arange(100)),
                        cmnist_embedded.test.subset(torch.arange(300)))


@pytest.fixture(scope="module")
def tiny_runs(small):
    """One-epoch SelecMix runs (GSC g and bias labels), trained methods kept."""
    specs = {"gsc": dict(method="selecmix", epochs=1, large_batch=512),
             "gt": dict(method="selecmix", similarity="gt", epochs=1, large_batch=512)}
    return live_runs(specs, small, keep=["gsc", "gt"])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ----------------------------------------------------------------------------- Sec. 3.1
@pytest.mark.parametrize("kind", ["positive", "negative"])
def test_true_partners_are_contradicting(cmnist_embedded, kind):
    ds = cmnist_embedded.train
    queries = torch.arange(0, len(ds), 37)
    partners = true_partners(ds, queries, kind)
    found = partners >= 0
    assert torch.equal(found, has_partner(ds, kind)[queries])
    assert is_contradicting(queries[found], partners[found], ds.y, ds.b, kind).all()


def test_has_partner_matches_brute_force(cmnist_embedded):
    ds = cmnist_embedded.train.subset(torch.arange(0, 3600, 9))
    for kind in ("positive", "negative"):
        brute = torch.tensor([bool(is_contradicting(torch.full((len(ds),), i), torch.arange(len(ds)), ds.y, ds.b,
                                                    kind).any()) for i in range(len(ds))])
        assert torch.equal(has_partner(ds, kind), brute)


def test_example_queries(cmnist_embedded):
    ds = cmnist_embedded.train
    q = example_queries(ds, 4, seed=3)
    assert len(q) == 4 and len(set(ds.y[q].tolist())) == 4
    assert ds.aligned[q].all()
    assert (true_partners(ds, q, "positive") >= 0).all() and (true_partners(ds, q, "negative") >= 0).all()


def test_mix_and_labels():
    x_i, x_k = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8), torch.zeros((1, 3, 2, 2), dtype=torch.uint8)
    assert torch.allclose(mix(x_i, x_k, 1.0), torch.ones(1, 3, 2, 2))
    assert torch.allclose(mix(x_i, x_k, 0.25), torch.full((1, 3, 2, 2), 0.25))
    assert torch.allclose(soft_label(3, 7, 0.3), 0.3 * torch.eye(10)[3] + 0.7 * torch.eye(10)[7])
    assert label_text("selecmix", 3, 7, 0.2) == "7"
    assert "never" in label_text("selecmix", 3, 7, 0.8)
    assert label_text("lisa", 3, 7, 0.3) == "0.30·3 + 0.70·7"
    assert label_text("lisa", 3, 3, 0.3) == "3"


def test_conflicting_share_rules():
    # aligned query (y=b=3); positive partner: y=3, colour 5; negative partner: y=7, colour 3
    assert conflicting_share(3, 3, 3, 5, 0.2, "selecmix") == 1.0
    assert conflicting_share(3, 3, 7, 3, 0.2, "selecmix") == 1.0
    assert conflicting_share(3, 3, 3, 5, 0.8, "lisa") == 0.0            # the aligned query dominates
    assert conflicting_share(3, 3, 7, 3, 0.6, "lisa") == pytest.approx(0.4)


def test_expected_shares_order(cmnist_embedded):
    ds = cmnist_embedded.train
    ours = expected_conflicting_share(ds, "selecmix", "negative", n=300)
    lisa = expected_conflicting_share(ds, "lisa", "negative", n=300)
    mixup = expected_conflicting_share(ds, "mixup", n=300)
    assert ours > 90 and 35 < lisa < 65 and 15 < mixup < 35


def test_bias_label_figures_and_widget(cmnist_embedded):
    ds = cmnist_embedded.train
    q = example_queries(ds, 2)
    p = true_partners(ds, q, "negative")
    assert len(bias_label_pairs_figure(ds, q, p, "negative").axes) == 8
    pairs = [(int(q[0]), int(p[0]), "negative")]
    assert len(lambda_static(ds, pairs, lams=(0, 0.5, 1)).axes) == 3
    draw_lambda_view(ds, int(q[0]), int(p[0]), 0.7)
    assert bytes(lambda_explorer(ds, pairs).children[-1].value).startswith(b"\x89PNG")


# ----------------------------------------------------------------------------- Sec. 3.3, one pool
def test_make_pool(cmnist_embedded):
    ds = cmnist_embedded.train
    idx = make_pool(ds, 64, conflicting=8, seed=1)
    assert len(idx) == 64 and len(set(idx.tolist())) == 64
    assert int(ds.conflicting[idx].sum()) == 8
    assert torch.all(ds.y[idx][1:] >= ds.y[idx][:-1])                   # sorted by label
    assert len(make_pool(ds, 50, conflicting=None)) == 50


def test_walk_follows_eqs_4_and_5(tiny_runs, small):
    method = tiny_runs["gsc"]["method"]
    idx = make_pool(small.train, 48, conflicting=6)
    walk = walk_pool(method, idx)
    assert walk.sim.shape == (48, 48) and walk.coin in ("positive", "negative")
    assert torch.allclose(walk.sim.diagonal(), torch.ones(48), atol=1e-5)   # cosine of normalised z
    for q in range(48):
        same = walk.y == walk.y[q]
        pos = torch.nonzero(same & (torch.arange(48) != q)).flatten()
        neg = torch.nonzero(~same).flatten()
        if len(pos) == 0:                                                 # a label alone in the pool
            assert walk.partner["positive"][q] == -1
        else:
            assert walk.sim[q, walk.partner["positive"][q]] == walk.sim[q, pos].min()
        assert walk.sim[q, walk.partner["negative"][q]] == walk.sim[q, neg].max()
    k = walk.partner["negative"]
    x = to_float(walk.images)
    lam = walk.lam.view(-1, 1, 1, 1)
    assert torch.allclose(walk.mixed["negative"], lam * x + (1 - lam) * x[k], atol=1e-6)
    assert torch.equal(walk.label["negative"], walk.y[k])
    assert (walk.lam <= 0.5).all()


def test_ground_truth_walk_is_perfect(tiny_runs, small):
    method = tiny_runs["gt"]["method"]
    walk = walk_pool(method, make_pool(small.train, 64, conflicting=16))
    for kind in ("positive", "negative"):
        assert walk.found[kind]["precision"] == 100.0 and walk.found[kind]["recall"] == 100.0
    end = discovery_at_end(method, pool_size=512)
    assert all(v == 100.0 for v in end.values())


def test_walk_figures_and_widget(tiny_runs, small):
    walk = walk_pool(tiny_runs["gsc"]["method"], make_pool(small.train, 40, conflicting=6))
    similarity_figure(walk)
    queries = {kind: pick_queries(walk, 3, kind) for kind in ("positive", "negative")}
    assert all(len(q) <= 3 for q in queries.values())
    assert all(walk.aligned[q].all() for q in queries.values())
    pairs_figure(walk, queries)
    query_figure(walk, 0, "negative")
    assert bytes(pair_explorer(walk).children[-1].value).startswith(b"\x89PNG")


def test_vanilla_has_no_auxiliary_model(small):
    runs = live_runs({"v": dict(method="vanilla", epochs=1, large_batch=512)}, small, keep=["v"])
    with pytest.raises(ValueError, match="no auxiliary model"):
        walk_pool(runs["v"]["method"], torch.arange(10))
    assert run_frame(runs).data.loc["v", "epochs"] == 1


# ----------------------------------------------------------------------------- Fig. 9 and Table 2
def test_discovery_series_and_plots(tiny_runs):
    fake = {"history": [{"epoch": 0, "aux": {"positive_precision": 50.0}}, {"epoch": 1, "aux": {}},
                        {"epoch": 2, "aux": {"positive_precision": 70.0, "negative_recall": 20.0}}]}
    assert aux_series(fake, "positive_precision") == ([1, 3], [50.0, 70.0])
    assert aux_series(fake, "negative_precision") == ([], [])
    discovery_curves({"fake": fake, **tiny_runs}, smooth=2)
    frame = discovery_frame({k: r["method"] for k, r in tiny_runs.items()}, pool_size=512)
    assert list(frame.index) == ["gsc", "gt"] and frame.loc["gt", ("precision", "positive")] == 100.0
    discovery_bars(frame)


def _fake_result(label, value, ratio=1.0, seed=0, method="lff_selecmix"):
    return {"label": label, "dataset": "cmnist", "ratio": ratio, "seed": seed, "method": method,
            "best_test_unbiased": value, "last_test_unbiased": value - 5, "valid_selected_test_unbiased": value - 3,
            "history": [{"epoch": 0, "aux": {"positive_precision": 60.0}}]}


def test_table2_labels_and_frames():
    assert table2_label("gt", "A") == "lff_selecmix-simgt-pairsA"
    assert table2_label("gsc", "AB") == "lff_selecmix"
    assert table2_label("gce-kl", "AB", "selecmix") == "selecmix-simgce-kl"
    paper = table2_frame()
    assert paper.loc["Both (AB)", "Ours (GSC)"] == "43.68 ± 0.51"
    assert (table2_frame([]) == "not yet recorded").all().all()
    results = [_fake_result("lff_selecmix-simgt-pairsA", 70.0), _fake_result("lff_selecmix-simgt-pairsA", 72.0, seed=1),
               _fake_result("lff_selecmix-pairsA", 75.0), _fake_result("lff_selecmix-pairsA", 99.0, ratio=5.0)]
    ours = table2_frame(results)
    assert ours.loc["Contradicting positives (A)", "GT (bias labels)"] == "71.00 ± 1.41 (2)"
    assert ours.loc["Contradicting positives (A)", "Ours (GSC)"] == "75.00 (1)"  # one seed: no spread
    order = ordering_frame(results, live={"gsc": {"best_test_unbiased": 40.0}, "gt": {"best_test_unbiased": 50.0}})
    assert order.iloc[0, 0].startswith("Ours (GSC) > GT")
    assert order.loc["Contradicting positives (A)"].iloc[1] == "Ours (GSC) > GT (bias labels)"
    assert order.loc["Both (AB)"].iloc[2] == "GT (bias labels) > Ours (GSC)"
    found = recorded_discovery(results + [_fake_result("lff_selecmix-simgce-cos", 60.0)])
    assert list(found) == ["L+Ours, GCE cos"]
    row_a = table2_runs(results, "A")  # ratio 1 only; sources in the table's order, seeds ascending
    assert list(row_a) == ["GT (bias labels), seed 0", "GT (bias labels), seed 1", "Ours (GSC), seed 0"]
    frame = precision_windows(row_a, "positive", windows=((1, 1), (2, None)))
    assert list(frame.columns) == ["epoch 1", "epochs 2-end", "best test"]
    assert frame.loc["GT (bias labels), seed 1", "epoch 1"] == 60.0 and frame["epochs 2-end"].isna().all()
    assert frame.loc["Ours (GSC), seed 0", "best test"] == 75.0


def test_protocol_frame():
    rows = [("lisa", "+ LISA (AB)"), ("selecmix-simgt", "+ Ours (AB), bias labels")]
    from selecmix.experiments.paper import paper_numbers

    frame = protocol_frame([_fake_result("lisa", 60.0, method="lisa")], rows, 1.0, paper_numbers("cmnist"))
    assert frame.loc["+ LISA (AB)", "last epoch"] == "55.00 (1)"
    assert frame.loc["+ Ours (AB), bias labels", "best test (paper protocol)"] == "not yet recorded"
    assert frame.loc["+ LISA (AB)", "paper (best test)"] == "74.42 ± 2.27"
    # a collapsed run (chance accuracy) counts in the mean and is counted -- as in Table 1
    runs = [_fake_result("lisa", 60.0, method="lisa"), _fake_result("lisa", 64.0, seed=1, method="lisa"),
            _fake_result("lisa", 11.0, seed=2, method="lisa")]
    frame = protocol_frame(runs + [_fake_result("lisa", 99.0, seed=5, method="lisa")], rows, 1.0)
    assert frame.loc["+ LISA (AB)", "best test (paper protocol)"] == "45.00 ± 29.51 (3; 1 collapsed, others 62.00 ± 2.83)"
    assert frame.loc["+ LISA (AB)", "paper (best test)"] == "–"


def test_recorded_never_fails():
    assert isinstance(recorded_runs("cmnist"), list)


def test_discovery_summary_and_mixup_demo(cmnist_embedded):
    fake = {"history": [{"epoch": 0, "aux": {"positive_precision": 50.0}}, {"epoch": 1, "aux": {}},
                        {"epoch": 2, "aux": {"positive_precision": 70.0, "negative_recall": 20.0}}]}
    frame = discovery_summary({"fake": fake})
    assert frame.loc["fake", ("precision", "positive")] == 60.0
    assert frame.loc["fake", ("recall", "negative")] == 20.0
    assert discovery_summary({"fake": fake}, first=3).loc["fake", ("precision", "positive")] == 70.0
    demo = mixup_demo(cmnist_embedded.train, n=6, seed=11)
    lam = demo["lam"]
    assert torch.allclose(demo["mixed"], lam * demo["x"] + (1 - lam) * demo["partner"], atol=1e-6)
    ds = cmnist_embedded.train
    assert torch.equal(demo["y_i"], ds.y[demo["index"]])
