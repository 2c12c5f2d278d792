"""Start the cstoqa chat page on the bundled corpus: ``python app/app.py [--host H] [--port P]``.

The same as ``cstoqa serve``, with ``corpus/``, ``index/`` and ``data/`` taken from the repository root
(wherever the command is run from) unless CSTOQA_CORPUS, CSTOQA_INDEX or CSTOQA_DATA say otherwise.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("CSTOQA_CORPUS", str(ROOT / "corpus"))
    os.environ.setdefault("CSTOQA_INDEX", str(ROOT / "index"))
    os.environ.setdefault("CSTOQA_DATA", str(ROOT / "data"))
    from cstoqa import cli

    sys.argv = ["cstoqa", "serve", *(sys.argv[1:] if argv is None else argv)]
    cli.main()


if __name__ == "__main__":
    main()
