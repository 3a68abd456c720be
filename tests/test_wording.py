"""The one table of level words: 相当 for JMA and gauges, order words only for a municipality's order."""
import pytest

from geo.model import Kind
from geo.wording import LANGS, ORDER_NAMES, Voice, level_label, level_words

INFORMATION_KINDS = [k for k in Kind if k != Kind.EVACUATION]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", INFORMATION_KINDS)
@pytest.mark.parametrize("level", range(6))
def test_information_never_speaks_with_order_words(kind, level, lang):
    words = level_words(level, kind, lang)
    assert words.voice == Voice.EQUIVALENT
    said = words.label + words.name + words.action + words.headline
    for order in ORDER_NAMES[lang].values():
        assert order not in said
    if level and lang == "ja":
        assert words.label.endswith("相当")


def test_jma_and_gauge_headlines_in_three_languages():
    assert level_words(4, Kind.SEDIMENT_WARNING).headline == "警戒レベル４相当：危険な場所から全員避難"
    assert level_words(4, Kind.SEDIMENT_WARNING).name == "土砂災害警戒情報"
    assert level_words(4, Kind.GAUGE).name == "氾濫危険水位"
    assert level_words(4, Kind.GAUGE, "en").headline == "Alert level 4 equivalent: Everyone in a dangerous place must evacuate"
    assert level_words(4, Kind.FLOOD_FORECAST, "easy").label == "けいかいレベル４（そうとう）"
    assert level_words(1, Kind.GAUGE).name == "水防団待機水位"
    assert "早期注意情報" not in level_words(1, Kind.GAUGE).name


def test_only_an_order_says_the_order_words():
    words = level_words(4, Kind.EVACUATION)
    assert (words.voice, words.label, words.name) == (Voice.ORDER, "警戒レベル４", "避難指示")
    assert level_words(5, Kind.EVACUATION, "en").name == "Emergency safety measures"
    assert level_words(3, "evacuation").name == "高齢者等避難"


def test_level_zero_has_no_action_and_says_so():
    words = level_words(0, Kind.WEATHER_WARNING, "en")
    assert (words.label, words.action, words.headline) == ("No alert level", "", "No alert level")
    assert level_label(0, Voice.ORDER, "ja") == "警戒レベルなし"


@pytest.mark.parametrize(("level", "lang"), [(6, "ja"), (-1, "ja"), (3, "fr")])
def test_out_of_range_is_a_clear_error(level, lang):
    with pytest.raises(ValueError, match="警戒レベル|language"):
        level_words(level, Kind.GAUGE, lang)
