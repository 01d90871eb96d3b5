"""Article bodies as HTML, safely: Markdown without raw HTML, links only to http(s) pages.

Supervisors write Markdown; the console shows it to operators, so whatever the text holds must
not become markup or a `javascript:` link. markdown-it escapes raw HTML when `html` is off, and
its link check is replaced by one that accepts only http and https (images are off too: an
article points to official pages, it does not load things from them).
"""

from __future__ import annotations

from markdown_it import MarkdownIt


def _only_web_links(url: str) -> bool:
    return url.strip().lower().startswith(("https://", "http://"))


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable(["image", "html_block", "html_inline"])
    md.validateLink = _only_web_links  # type: ignore[method-assign]
    return md


_MD = _parser()


def to_html(markdown: str) -> str:
    html: str = _MD.render(markdown)
    return html
