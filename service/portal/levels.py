"""警戒レベル as residents see it: colour, a text colour that keeps contrast, words and instruction.

Colours are the Cabinet Office / JMA ones (geo.model.LEVEL_COLOURS); the words come from the
message catalogs so every language says the same thing. A level is never shown by colour alone:
every badge carries "Level N" and the level's name.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from geo.model import LEVEL_COLOURS

Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


# Names per the Cabinet Office 警戒レベル guidance (令和3年5月), translated in the catalogs.
LEVEL_NAMES = {
    5: N_("Emergency safety measures"),
    4: N_("Evacuation instruction"),
    3: N_("Elderly people evacuate"),
    2: N_("Heavy rain / flood advisory"),
    1: N_("Early warning"),
    0: N_("No alert level"),
}
# What to do at each level: the guidance's action line.
LEVEL_ACTIONS = {
    5: N_("Disaster is happening or imminent. Your life is in danger: secure your safety now."),
    4: N_("Everyone in a dangerous place must evacuate."),
    3: N_("Elderly people and others who need time must evacuate from dangerous places."),
    2: N_("Check how and where you would evacuate."),
    1: N_("Be prepared for a disaster."),
    0: N_("No action needed now."),
}
# Text on each background: white only where it keeps WCAG AA contrast (black and purple).
TEXT_COLOURS = {5: "#ffffff", 4: "#ffffff", 3: "#000000", 2: "#000000", 1: "#000000", 0: "#000000"}


@dataclass(frozen=True, slots=True)
class LevelView:
    """A level ready for a template: number, label, name, action, colours, CSS class."""

    level: int
    label: str
    name: str
    action: str
    colour: str
    text_colour: str

    @property
    def css(self) -> str:
        """CSS class carrying the colours (portal.css), so markup needs no inline style."""
        return f"lv{self.level}"


def level_view(level: int, _: Gettext) -> LevelView:
    """The presentation of a 警戒レベル in the request's language."""
    label = _("Level %(n)d") % {"n": level} if level else _("No alert level")
    return LevelView(
        level=level,
        label=label,
        name=_(LEVEL_NAMES[level]),
        action=_(LEVEL_ACTIONS[level]),
        colour=LEVEL_COLOURS[level],
        text_colour=TEXT_COLOURS[level],
    )
