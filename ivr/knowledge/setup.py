"""The knowledge base as the engine, the console and the CLI build it from the settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ivr.knowledge.analysis import Analyzer
from ivr.knowledge.repository import KnowledgeBase
from ivr.tickets.repository import Database

if TYPE_CHECKING:
    from ivr.settings import Settings


def menu_topics(flow_file: Path) -> tuple[str, ...]:
    """The topics the call flow's menus route to (an article belongs to one of them)."""
    from ivr.callflows.model import MenuNode, load_flow

    flow = load_flow(flow_file)
    found: dict[str, None] = {}
    for node in flow.nodes.values():
        if isinstance(node, MenuNode):
            for option in (*node.options.values(), node.default):
                if option.topic:
                    found[option.topic] = None
    return tuple(found)


def make_analyzer(settings: Settings) -> Analyzer:
    k = settings.knowledge
    return Analyzer.load(settings.config_dir / k.stopwords, settings.config_dir / k.families)


def make_knowledge(settings: Settings, db: Database) -> KnowledgeBase:
    return KnowledgeBase(db, make_analyzer(settings), menu_topics(settings.callflow))
