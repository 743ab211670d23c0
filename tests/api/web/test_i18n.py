"""The translation table is complete: every key in both languages, every vocabulary and template string in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.meters.service import MeterState
from api.web.i18n import DEFAULT_LANG, LANGS, TEXTS, VOCABULARIES, pick_lang, translator

TEMPLATES = Path(__file__).parents[3] / "api" / "web" / "templates"


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_key_has_chinese_and_english(key):
    assert set(TEXTS[key]) == set(LANGS)
    zh, en = TEXTS[key]["zh"], TEXTS[key]["en"]
    assert zh.strip() and en.strip()
    assert re.findall(r"\{(\w+)\}", zh) == re.findall(r"\{(\w+)\}", en) or \
        sorted(re.findall(r"\{(\w+)\}", zh)) == sorted(re.findall(r"\{(\w+)\}", en))


def test_every_value_of_every_vocabulary_is_named():
    missing = [f"{prefix}.{value}" for prefix, vocabulary in VOCABULARIES.items() for value in vocabulary
               if f"{prefix}.{value}" not in TEXTS]
    missing += [f"state.{s}" for s in MeterState if f"state.{s}" not in TEXTS]
    assert missing == []


def test_every_string_the_templates_ask_for_is_in_the_table():
    asked = set()
    for template in TEMPLATES.glob("*.html"):
        asked |= set(re.findall(r"""t\(\s*["']([\w.]+)["']""", template.read_text()))
    prefixes = {key for key in asked if key.endswith(".")}  # t("kind." ~ alert.kind): a whole vocabulary
    assert {p.rstrip(".") for p in prefixes} <= set(VOCABULARIES) | {"state"}
    assert asked - prefixes - set(TEXTS) == set()
    assert {"alert.ack", "alert.resolve", "login.title"} <= asked


def test_chinese_unless_english_is_asked_for_or_remembered():
    assert DEFAULT_LANG == "zh"
    assert pick_lang(None, None) == "zh"
    assert pick_lang("en", None) == "en" and pick_lang(None, "en") == "en" and pick_lang("zh", "en") == "zh"
    assert pick_lang("fr", "xx") == "zh"
    assert translator("zh")("outcome.resident_fine") == "老人安好"
