"""警戒レベル as residents see it: the words of geo.wording, a colour class, and a text colour.

The words come from the one wording table (geo.wording.level_words), in the page's language: JMA
information and gauges give a level *equivalent* (警戒レベル４相当) under their own names, and only
a municipality's order (`evacuation`) says 避難指示 and the like. A level is never shown by colour
alone: every badge carries its label.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from geo.model import Kind
from geo.wording import Voice, level_words

Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


# Text on each background: white only where it keeps WCAG AA contrast (black and purple).
TEXT_COLOURS = {5: "#ffffff", 4: "#ffffff", 3: "#000000", 2: "#000000", 1: "#000000", 0: "#000000"}


@dataclass(frozen=True, slots=True)
class LevelView:
    """A level ready for a template: number, label, the source's name for it, action, colours."""

    level: int
    label: str  # 警戒レベル４相当 / Alert level 4 equivalent / けいかいレベル４（そうとう）
    name: str  # the speaker's term (土砂災害警戒情報, 氾濫危険水位, 避難指示 for an order); may be ""
    action: str  # what the level asks of residents; "" at level 0
    colour: str
    text_colour: str
    order: bool = False  # a municipality's order (避難指示 ...), not information equivalent to a level

    @property
    def css(self) -> str:
        """CSS class carrying the colours (portal.css), so markup needs no inline style."""
        return f"lv{self.level}"


def level_view(level: int, kind: Kind | str, lang: str) -> LevelView:
    """The presentation of a 警戒レベル given by an event of `kind`, in the page's language."""
    words = level_words(level, kind, lang)
    return LevelView(
        level=level,
        label=words.label,
        name=words.name,
        action=words.action,
        colour=words.colour,
        text_colour=TEXT_COLOURS[level],
        order=words.voice == Voice.ORDER,
    )
