import pytest

from hubbub.contrib.chat import lookalikes


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("\u0410da", "Ada"),  # a Cyrillic А
        ("\u0410\u0501\u0430", "ada"),  # all Cyrillic
        ("p\u0430yp\u0430l", "paypal"),
        ("0scar", "Oscar"),
        ("AdaI", "adal"),  # a capital i and a small L
        ("\uff41da", "ada"),  # a fullwidth a
        ("rn", "m"),
        ("Ada", "ADA"),
    ],
)
def test_names_that_look_alike_have_the_same_skeleton(one, other):
    assert lookalikes.skeleton(one) == lookalikes.skeleton(other)


@pytest.mark.parametrize(("one", "other"), [("Ada", "Eve"), ("Ada", "Ada2"), ("Zoë", "Zoe"), ("Anna", "Ana")])
def test_names_that_differ_have_different_skeletons(one, other):
    assert lookalikes.skeleton(one) != lookalikes.skeleton(other)


def test_a_skeleton_is_its_own_skeleton():
    for name in ["\u0410\u0501\u0430", "0scar", "AdaI", "Δελτα", "ﬁle", "Ǆ"]:
        shape = lookalikes.skeleton(name)
        assert lookalikes.skeleton(shape) == shape


@pytest.mark.parametrize(
    ("text", "mixed"),
    [
        ("Ada", []),
        ("Zoë_2.0", []),
        ("Москва", []),
        ("東京あカ", []),  # Han, Hiragana and Katakana are written together
        ("Tokyo東京", []),
        ("서울Seoul", []),
        ("\u0410da", ["CYRILLIC", "LATIN"]),
        ("Αlpha", ["GREEK", "LATIN"]),  # a Greek capital alpha
        ("Москваあ", ["CYRILLIC", "HIRAGANA"]),
    ],
)
def test_mixed_scripts(text, mixed):
    assert lookalikes.mixed_scripts(text) == mixed


def test_the_mixing_rule_in_words():
    assert lookalikes.mixing_rule("Ada") is None
    assert lookalikes.mixing_rule("\u0410da") == (
        "“\u0410da” mixes scripts (Cyrillic and Latin), so it could pass for another name: write it in one."
    )
