"""The documentation site builds with ``mkdocs build --strict``, and a broken reference fails it.

``mkdocs.yml`` is strict: a griffe docstring warning, a broken cross-reference, a missing page
or a bad link is a failure. The full build (API pages, README snippets, notebooks) takes
about 15 s on 2 CPU cores; the broken-reference builds use a copy of the config with one page
and without the notebooks (a few seconds each). Skipped without the ``docs`` extra.
"""

import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings")
pytest.importorskip("mkdocstrings_handlers.python")
pytest.importorskip("material")
pytest.importorskip("mkdocs_jupyter")
yaml = pytest.importorskip("yaml")  # a dependency of mkdocs

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _build(config: pathlib.Path, site: pathlib.Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_strict_build_passes(tmp_path):
    site = tmp_path / "site"
    proc = _build(ROOT / "mkdocs.yml", site)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    # the API from the docstrings
    scan = (site / "api" / "scan" / "index.html").read_text(encoding="utf-8")
    assert 'id="snnjax.scan.run"' in scan
    # the README's quick start, included by snippet
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "experiments/quickstart.py" in index and "Write your own neuron" in index
    # every notebook rendered with its stored outputs (figures)
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for nb in notebooks:
        page = site / "notebooks" / nb.stem / "index.html"
        assert page.is_file(), nb.name
    assert any("<img" in (site / "notebooks" / nb.stem / "index.html").read_text(encoding="utf-8") for nb in notebooks)
    # the neuron equations page shows the modules' docstrings
    neurons = (site / "neurons" / "index.html").read_text(encoding="utf-8")
    assert "Leaky integrate-and-fire (LIF) neuron" in neurons and "POLARA" in neurons


def _one_page_config(tmp_path: pathlib.Path, page: str) -> pathlib.Path:
    """mkdocs.yml with its docstring options, a single page ``page`` and no notebooks."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text(page, encoding="utf-8")
    config["docs_dir"] = str(docs)
    config["nav"] = ["index.md"]
    config.pop("hooks", None)
    plugins = []
    for plugin in config["plugins"]:
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            python = plugin["mkdocstrings"]["handlers"]["python"]
            python["paths"] = [str(ROOT)]
            options = python["options"]
            options["extensions"] = [str(ROOT / ext) for ext in options.get("extensions", [])]
            plugins.append(plugin)
    config["plugins"] = plugins
    path = tmp_path / "mkdocs.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_one_page_config_builds(tmp_path):
    config = _one_page_config(tmp_path, "# ok\n\n[run][snnjax.scan.run]\n\n::: snnjax.scan\n")
    proc = _build(config, tmp_path / "site")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "page, named",
    [
        ("# x\n\n[x][snnjax.scan.does_not_exist]\n\n::: snnjax.scan\n", "snnjax.scan.does_not_exist"),
        ("# x\n\n::: snnjax.does_not_exist\n", "snnjax.does_not_exist"),
    ],
    ids=["cross-reference", "api-object"],
)
def test_broken_reference_fails_strict_build(tmp_path, page, named):
    config = _one_page_config(tmp_path, page)
    proc = _build(config, tmp_path / "site")
    assert proc.returncode != 0
    assert named in proc.stdout + proc.stderr
