"""SelecMix: debiased learning by contradicting-pair sampling (Hwang et al., NeurIPS 2022).

A small PyTorch package behind the SelecMix book: biased datasets, the GCE / SC / GSC losses,
contradicting-pair selection, SelecMix and its baselines, training and the analyses of the paper.
"""
__version__ = "0.1.0"
