"""The reproduction: run files read back, the paper's numbers, comparison tables, sweep plans,
probes, scans and traces of the collapse investigation, the benchmark and the command line.

Built on the method (``selecmix`` top level); the method never imports from here.
"""
