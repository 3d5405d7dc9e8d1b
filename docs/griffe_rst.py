"""Griffe extension: the reStructuredText bits of snnjax's docstrings, rendered as Markdown.

The docstrings are Google style (``Args:`` / ``Returns:`` / ``Raises:``, which griffe parses)
with a few reStructuredText constructs inside, written for reading in the source. Before
griffe parses a docstring, this rewrites (in the loaded copy only; the sources are untouched):

* the roles ``:func:`x```, ``:class:`~a.b```, ``:mod:``, ``:meth:``, ``:data:``, ``:attr:``,
  ``:exc:``, ``:obj:`` into *optional* cross-references to the object they name, resolved in the
  docstring's scope (``batches`` in :mod:`snnjax.data` is ``snnjax.data.pipeline.batches``):
  a link where that object is rendered on some page, plain code where it is not (an object
  outside the API pages, another library's class), never a warning. Cross-references written
  in Markdown in the pages (``[text][snnjax.scan.run]``) stay required: a broken one fails
  ``mkdocs build --strict``;
* ``.. math::`` blocks into ``tex`` code blocks (no MathJax: the site works offline);
* literal blocks (a paragraph ending ``::`` and the indented block after it) into code
  blocks, simple tables (``=== ===`` borders) into Markdown tables;
* a bare ``Example:`` line into ``Examples:``, griffe's section for ``>>>`` examples
  (``Example:`` would be an admonition, its doctest lines plain text).

mkdocs.yml loads it (``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?P<role>func|class|mod|meth|data|attr|exc|obj):`(?P<target>[^`]+)`")
TABLE_BORDER = re.compile(r"^\s*=+(?: +=+)+\s*$")
LIST_MARKER = re.compile(r"^(\s*)(?:[*+-]|\d+\.)\s+")
MATH = re.compile(r"^\s*\.\. math::\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _content_indent(line: str) -> int:
    """Indentation of a line's text (after a list marker, if it starts with one)."""
    m = LIST_MARKER.match(line)
    return m.end() if m else _indent(line)


def _fence(lines: list[str], start: int, base: int, lang: str) -> tuple[list[str], int]:
    """The indented block after line ``start - 1`` (deeper than ``base``) as a fenced block."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    body = lines[start:end]
    if not any(line.strip() for line in body):
        return [], start
    cut = min(_indent(line) for line in body if line.strip())
    pad = " " * (base and max(base, 4))  # Python-Markdown nests blocks in list items at 4 spaces
    out = ["", f"{pad}```{lang}", *[pad + line[cut:] if line.strip() else "" for line in body], f"{pad}```"]
    return out, end


def _table(rows: list[str], header_end: int) -> list[str]:
    """A reStructuredText simple table (borders included) as a Markdown table.

    A row whose first cell is empty continues the row above it (a wrapped cell).
    """
    starts = [m.start() for m in re.finditer(r"=+", rows[0])]
    pad = " " * starts[0]

    def cells(line: str) -> list[str]:
        bounds = [*starts[1:], None]
        return [line[a:b].strip() for a, b in zip(starts, bounds)]

    def join(body: list[str]) -> list[list[str]]:
        merged: list[list[str]] = []
        for line in body:
            row = cells(line)
            if merged and not row[0]:
                merged[-1] = [f"{old} {new}".strip() for old, new in zip(merged[-1], row)]
            else:
                merged.append(row)
        return merged

    head = join(rows[1:header_end])
    body = join(rows[header_end + 1 : -1])
    fmt = [f"{pad}| " + " | ".join(row) + " |" for row in head[:1] + [["---"] * len(starts)] + body]
    return fmt


def _blocks(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if MATH.match(line):
            block, i = _fence(lines, i + 1, _indent(line), "tex")
            out.extend(block)
            continue
        if TABLE_BORDER.match(line):
            borders = [j for j in range(i, len(lines)) if TABLE_BORDER.match(lines[j])][:3]
            if len(borders) == 3 and all(lines[j].strip() for j in range(i, borders[2] + 1)):
                out += ["", *_table(lines[i : borders[2] + 1], borders[1] - i), ""]
                i = borders[2] + 1
                continue
        if line.rstrip().endswith("::") and not line.strip().startswith(".."):
            nxt = next((lines[j] for j in range(i + 1, len(lines)) if lines[j].strip()), "")
            base = _content_indent(line)
            if nxt and _indent(nxt) > base:
                head = line.rstrip()[:-2].rstrip()
                if head.strip():
                    out.append(head + ("" if head.endswith(":") else ":"))
                block, i = _fence(lines, i + 1, base, "text")
                out.extend(block)
                continue
        if line.strip() == "Example:":
            line = line.replace("Example:", "Examples:")
        out.append(line)
        i += 1
    return "\n".join(out)


def _exists(collection: Any, path: str) -> bool:
    try:
        collection[path]
    except Exception:  # noqa: BLE001 - KeyError, an alias that does not resolve, ...
        return False
    return True


def _target(obj: griffe.Object, name: str, collection: Any) -> str:
    """The full path of ``name`` as written in ``obj``'s docstring (``name`` if unresolved).

    A full path is taken as it is; else the first component is resolved in the docstring's
    scope, then in its module's (a class field named like a module does not capture it).
    """
    name = name.lstrip(".")
    if _exists(collection, name):
        return name
    head, _, rest = name.partition(".")
    for scope in (obj, obj.module):
        try:
            resolved = scope.resolve(head)
        except Exception:  # noqa: BLE001 - unresolved here: try the next scope
            continue
        path = f"{resolved}.{rest}" if rest else resolved
        if _exists(collection, path):
            return path
    return name


def _roles(obj: griffe.Object, text: str, collection: Any) -> str:
    def link(m: re.Match[str]) -> str:
        target = m["target"].strip()
        title, explicit = target, re.match(r"^(.*?)\s*<([^>]+)>$", target)
        if explicit:  # :func:`title <path>`
            title, target = explicit[1], explicit[2]
        elif target.startswith("~"):
            target = target[1:]
            title = target.rsplit(".", 1)[-1]
        path = _target(obj, target, collection)
        return f'<autoref identifier="{html.escape(path)}" optional><code>{html.escape(title)}</code></autoref>'

    return ROLE.sub(link, text)


class RstToMarkdown(griffe.Extension):
    """Rewrite each loaded docstring (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = _roles(obj, _blocks(obj.docstring.value), loader.modules_collection)
            stack.extend(m for m in obj.members.values() if not m.is_alias)
