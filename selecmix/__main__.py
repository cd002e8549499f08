"""``python -m selecmix``: the command line (:mod:`selecmix.experiments.cli`)."""
from .experiments.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
