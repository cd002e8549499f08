"""The paper's numbers (mean, std over three seeds) and which run labels make up each of its tables."""
from __future__ import annotations

from ..config import REMEDY, make_config
from .records import run_label


def _row(*cells: str) -> tuple[tuple[float, float] | None, ...]:
    out = []
    for c in cells:
        if c == "-":
            out.append(None)
        else:
            m, s = c.split("±")
            out.append((float(m), float(s)))
    return tuple(out)


_CM = (0.5, 1.0, 2.0, 5.0)


# Table 1 (unbiased test accuracy; BFFHQ: bias-conflicting test samples). Keys are our run labels
# (HEX's numbers are the ones the paper copied from DFA's paper).
PAPER_TABLE1: dict[str, dict[str, dict[float, tuple[float, float]]]] = {}


_T1 = {
    "cmnist": {
        "vanilla": _row("35.71±0.83", "50.51±2.17", "65.40±1.63", "82.12±1.52"),
        "hex": _row("30.33±0.76", "43.73±5.50", "56.85±2.58", "74.62±3.20"),
        "rebias": _row("71.42±1.41", "86.50±0.97", "92.95±0.21", "96.92±0.09"),
        "end": _row("56.98±4.85", "73.83±2.09", "82.28±1.08", "89.26±0.27"),
        "lff": _row("63.86±2.81", "78.64±1.51", "84.95±1.71", "89.42±0.65"),
        "dfa": _row("67.37±1.61", "80.20±1.86", "85.61±0.76", "89.86±0.80"),
        "selecmix": _row("70.47±1.66", "83.55±0.42", "87.03±0.58", "91.56±0.17"),
        "lff_selecmix": _row("70.00±0.52", "82.80±0.71", "87.16±0.62", "91.57±0.20")},
    "cifar10c": {
        "vanilla": _row("23.26±0.29", "26.10±0.72", "31.04±0.44", "41.98±0.12"),
        "hex": _row("13.87±0.06", "14.81±0.42", "15.20±0.54", "16.04±0.63"),
        "rebias": _row("22.13±0.23", "26.05±0.10", "32.00±0.81", "44.00±0.66"),
        "end": _row("22.54±0.65", "26.20±0.39", "32.99±0.33", "44.90±0.37"),
        "lff": _row("29.36±0.18", "33.50±0.52", "40.65±1.23", "50.95±0.40"),
        "dfa": _row("30.04±0.66", "33.80±1.83", "42.10±1.04", "49.23±0.63"),
        "selecmix": _row("38.14±0.15", "41.87±0.14", "47.70±1.35", "54.00±0.38"),
        "lff_selecmix": _row("39.44±0.22", "43.68±0.51", "49.70±0.54", "57.03±0.48")},
    "bffhq": {
        "vanilla": _row("56.20±0.35"), "hex": _row("52.83±0.90"), "rebias": _row("56.80±1.56"),
        "end": _row("56.53±0.61"), "lff": _row("65.60±1.40"), "dfa": _row("61.60±1.97"),
        "selecmix": _row("71.60±1.91"), "lff_selecmix": _row("70.80±2.95")},
}


# Table 4 (pair sets and plain mixup) -- Colored MNIST, Corrupted CIFAR-10 (0.5/1/2/5 %), BFFHQ (0.5 %).
_T4 = {
    "mixup": ("36.90±1.87 46.19±1.93 59.44±3.61 76.28±3.51", "23.53±0.80 25.48±0.50 31.88±0.42 43.41±0.56", "52.80±0.40"),
    "selecmix-pairsA": ("58.49±0.77 74.59±0.77 83.16±1.14 89.32±0.71", "37.16±0.09 41.38±0.41 48.00±0.64 54.40±0.26", "66.20±1.80"),
    "selecmix-pairsB": ("71.23±1.30 81.87±0.94 85.91±0.51 90.53±0.81", "35.17±0.47 37.74±0.17 42.77±0.75 49.59±0.05", "70.33±0.46"),
    "lff_mixup": ("44.30±1.03 58.22±2.71 72.44±2.10 85.28±1.39", "22.71±0.60 26.32±1.10 32.67±0.46 45.16±0.92", "57.53±0.64"),
    "lff_selecmix-pairsA": ("57.28±1.96 74.44±0.36 84.20±0.48 90.33±0.22", "38.46±0.40 42.94±0.44 49.32±0.28 56.11±0.83", "67.60±2.20"),
    "lff_selecmix-pairsB": ("70.26±1.70 83.14±0.86 86.44±0.49 91.49±0.31", "37.15±1.31 41.82±0.98 47.01±0.34 53.68±0.02", "70.40±2.23"),
}


# Table 5 (bias labels known): LISA vs SelecMix with ground-truth bias labels.
_T5 = {
    "lisa-pairsA": ("48.95±0.75 67.10±0.77 78.28±0.99 87.04±0.72", "33.29±0.65 38.62±0.31 45.79±0.13 53.41±0.27", "63.20±0.92"),
    "selecmix-simgt-pairsA": ("58.07±1.94 72.25±0.60 82.35±0.82 90.11±0.14", "36.10±0.21 40.55±0.45 46.70±0.73 53.90±0.59", "67.67±1.33"),
    "lisa-pairsB": ("52.32±2.30 72.97±1.22 79.74±2.25 86.44±1.10", "29.56±0.93 34.23±1.34 40.47±0.67 47.61±0.64", "58.93±0.50"),
    "selecmix-simgt-pairsB": ("72.02±1.39 81.94±1.62 86.04±0.77 88.68±2.32", "35.47±0.54 39.27±0.87 43.13±1.29 48.44±0.96", "77.40±2.09"),
    "lisa": ("60.85±1.72 74.42±2.27 83.20±0.52 88.73±0.39", "32.71±1.09 38.18±0.90 44.15±0.39 51.57±0.45", "65.20±0.53"),
    "selecmix-simgt": ("70.57±2.86 83.38±0.53 87.22±0.70 90.23±0.58", "37.02±1.05 41.66±1.10 48.35±0.99 53.47±0.53", "75.00±0.53"),
}


# Table 7 (JTT) and Table 6 (bias-conflicting accuracy), where the paper reports them.
PAPER_JTT = {"cmnist": {1.0: (62.35, 3.30), 2.0: (74.04, 1.33)}, "cifar10c": {1.0: (28.55, 0.27), 2.0: (33.03, 0.52)},
             "bffhq": {0.5: (58.40, 0.35)}}


PAPER_TABLE6 = {  # bias-conflicting test accuracy, keyed by our run labels
    "cmnist": {1.0: {"vanilla": (44.14, 2.71), "mixup": (38.80, 3.85), "end": (62.92, 2.56), "lff": (71.40, 2.63),
                     "dfa": (76.06, 3.15), "selecmix": (77.38, 1.87), "lff_selecmix": (74.62, 0.94)},
               2.0: {"vanilla": (59.32, 1.52), "mixup": (51.88, 3.56), "end": (76.31, 1.16), "lff": (80.82, 2.75),
                     "dfa": (81.39, 1.97), "selecmix": (83.32, 1.57), "lff_selecmix": (82.70, 0.73)}},
    "cifar10c": {1.0: {"vanilla": (16.30, 0.50), "mixup": (14.77, 0.50), "end": (16.22, 0.53), "lff": (24.08, 0.97),
                       "dfa": (25.00, 2.55), "selecmix": (35.89, 1.05), "lff_selecmix": (36.17, 1.25)},
                 2.0: {"vanilla": (21.40, 0.74), "mixup": (22.23, 0.89), "end": (23.77, 0.22), "lff": (34.00, 1.06),
                       "dfa": (31.84, 1.09), "selecmix": (44.24, 1.07), "lff_selecmix": (43.88, 1.41)}},
}

# Table 2 (Corrupted CIFAR-10, 1 %, on L+Ours): similarity source x pair set.
PAPER_TABLE2 = {
    "A": {"gt": (41.71, 0.85), "gce-cos": (40.31, 0.63), "gce-l2": (38.56, 1.25), "gce-kl": (40.82, 0.94), "gsc": (42.94, 0.44)},
    "B": {"gt": (41.70, 0.74), "gce-cos": (33.69, 0.97), "gce-l2": (34.15, 0.50), "gce-kl": (30.99, 0.93), "gsc": (41.82, 0.98)},
    "AB": {"gt": (43.35, 0.67), "gce-cos": (38.05, 0.83), "gce-l2": (38.90, 0.96), "gce-kl": (39.94, 1.48), "gsc": (43.68, 0.51)},
}


# Table 3 (bias-label prediction accuracy of the biased model, linear probe).
PAPER_TABLE3 = {
    "cifar10c": {"lff": _row("77.44±0.94", "73.01±1.70", "67.00±0.87", "55.58±0.06"),
                 "DFA": _row("79.03±1.15", "72.30±0.71", "64.71±0.24", "52.01±0.70"),
                 "selecmix": _row("95.45±0.05", "93.39±0.02", "92.89±0.06", "87.28±0.20")},
    "bffhq": {"lff": _row("51.07±3.06"), "DFA": _row("46.20±1.00"), "selecmix": _row("59.13±0.23")},
}


def paper_ratios(dataset: str) -> tuple[float, ...]:
    return (0.5,) if dataset == "bffhq" else _CM


def _by_ratio(dataset: str, cells) -> dict[float, tuple[float, float]]:
    return {r: c for r, c in zip(paper_ratios(dataset), cells) if c is not None}


def paper_numbers(dataset: str) -> dict[str, dict[float, tuple[float, float]]]:
    """The paper's unbiased accuracy (mean, std) per run label and ratio (Tables 1, 4, 5, 7)."""
    table = {label: _by_ratio(dataset, cells) for label, cells in _T1.get(dataset, {}).items()}
    col = {"cmnist": 0, "cifar10c": 1, "bffhq": 2}[dataset]
    for source in (_T4, _T5):
        for label, texts in source.items():
            table[label] = _by_ratio(dataset, _row(*texts[col].split()))
    table["jtt"] = dict(PAPER_JTT.get(dataset, {}))
    return table


# Which run labels make up each of the paper's tables (display names on the right).
#: The table row of this book's remedy for the V+Ours collapse (:data:`selecmix.config.REMEDY`).
REMEDY_LABEL = run_label(make_config("cmnist", 1.0, "selecmix", "paper", **REMEDY))

TABLES = {
    "1": [("vanilla", "Vanilla"), ("lff", "LfF"), ("selecmix", "V+Ours"), ("lff_selecmix", "L+Ours"),
          ("hex", "HEX"), ("rebias", "ReBias"), ("end", "EnD (bias labels)"), ("dfa", "DFA"),
          (REMEDY_LABEL, "V+Ours + random warm-up (book's, not paper's)")],
    "4": [("vanilla", "Vanilla"), ("mixup", "+ mixup"), ("selecmix-pairsA", "+ Ours (A)"),
          ("selecmix-pairsB", "+ Ours (B)"), ("selecmix", "+ Ours (AB)"), ("lff", "LfF"),
          ("lff_mixup", "LfF + mixup"), ("lff_selecmix-pairsA", "LfF + Ours (A)"),
          ("lff_selecmix-pairsB", "LfF + Ours (B)"), ("lff_selecmix", "LfF + Ours (AB)")],
    "5": [("vanilla", "Vanilla"), ("lisa-pairsA", "+ LISA (A)"), ("selecmix-simgt-pairsA", "+ Ours (A), bias labels"),
          ("lisa-pairsB", "+ LISA (B)"), ("selecmix-simgt-pairsB", "+ Ours (B), bias labels"),
          ("lisa", "+ LISA (AB)"), ("selecmix-simgt", "+ Ours (AB), bias labels")],
    "6": [("vanilla", "Vanilla"), ("mixup", "Mixup"), ("end", "EnD (bias labels)"), ("lff", "LfF"), ("dfa", "DFA"),
          ("selecmix", "V+Ours"), ("lff_selecmix", "L+Ours")],
    "7": [("vanilla", "Vanilla"), ("jtt", "JTT"), ("selecmix", "V+Ours")],
}

#: The metric each table reports when it is not the unbiased test accuracy (Table 6: bias-conflicting).
TABLE_METRIC = {"6": "conflicting"}

#: Rows a table shows even before anything is recorded for them ("not run"): the remedy the book
#: records beside Table 1 on Colored MNIST (``sweep --plan remedy``).
PLANNED_ROWS = {("1", "cmnist"): (REMEDY_LABEL,)}


def table_paper(dataset: str, table: str) -> dict[str, dict[float, tuple[float, float]]]:
    """The paper's (mean, std) per run label and ratio for one of its tables: Table 6's
    bias-conflicting accuracy, the unbiased accuracy of :func:`paper_numbers` for the others
    (Table 7: only at the ratios where the paper reports JTT)."""
    if table == "6":
        out: dict[str, dict[float, tuple[float, float]]] = {}
        for ratio, cells in PAPER_TABLE6.get(dataset, {}).items():
            for label, ref in cells.items():
                out.setdefault(label, {})[ratio] = ref
        return out
    numbers = paper_numbers(dataset)
    if table == "7":
        ratios = set(PAPER_JTT.get(dataset, {}))
        return {label: {r: v for r, v in cells.items() if r in ratios} for label, cells in numbers.items()}
    return numbers


def table_ratios(dataset: str, table: str) -> tuple[float, ...]:
    """The ratios a table covers on ``dataset``: those the paper reports it at (Tables 6, 7: 1 and 2 %)."""
    if table == "6":
        return tuple(sorted(PAPER_TABLE6.get(dataset, {})))
    if table == "7":
        return tuple(sorted(PAPER_JTT.get(dataset, {})))
    return paper_ratios(dataset)


def dataset_tables(dataset: str) -> tuple[str, ...]:
    """The tables of the paper's main comparison (1, 6, 7) it reports for ``dataset``: what
    ``python -m selecmix table`` prints when no ``--table`` is given."""
    return tuple(t for t in ("1", "6", "7") if table_ratios(dataset, t))
