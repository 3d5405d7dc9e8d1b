"""MkDocs hooks: every ``notebooks/*.ipynb`` appears under "Notebooks" in the nav.

``docs/notebooks`` is a symlink to ``../notebooks``; this fills the nav section named
``Notebooks`` (left empty in mkdocs.yml) with the notebooks found there, sorted by file name,
so adding a notebook needs no edit to mkdocs.yml.
"""

from __future__ import annotations

from pathlib import Path

SECTION = "Notebooks"


def on_config(config, **kwargs):
    docs_dir = Path(config["docs_dir"])
    notebooks = sorted((docs_dir / "notebooks").glob("*.ipynb"))
    entries = [f"notebooks/{nb.name}" for nb in notebooks]
    nav = config.get("nav") or []
    for i, item in enumerate(nav):
        if isinstance(item, dict) and SECTION in item:
            if entries:
                nav[i] = {SECTION: entries}
            else:
                del nav[i]
            break
    return config
