import pytest

from hubbub.contrib.chat import names

from .conftest import make_guest


def test_random_names_are_shakespearean():
    assert {names.random_name() for _ in range(50)} <= set(names.SHAKESPEAREAN)
    assert all(names.is_valid(name) for name in names.SHAKESPEAREAN)


def test_normalize_trims_and_joins_words():
    assert names.normalize("  Lady \t Macbeth \n") == "Lady_Macbeth"
    assert names.normalize("   ") == ""


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("Ada", True),
        ("o.brien-2_x", True),
        ("Zoë", True),
        ("a b", False),
        ("a@b", False),
        ("<b>", False),
        ("x" * 31, False),
    ],
)
def test_valid_names(name, valid):
    assert names.is_valid(name) is valid


@pytest.mark.django_db
def test_unique_name_adds_the_smallest_free_number_ignoring_case():
    assert names.unique_name("Puck") == "Puck"
    make_guest("puck")
    make_guest("Puck2")
    assert names.unique_name("Puck") == "Puck3"
    assert names.unique_name("Puckish") == "Puckish"


@pytest.mark.django_db
def test_unique_names_stay_within_the_length_limit():
    long = "x" * names.MAX_LENGTH
    make_guest(long)
    assert names.unique_name(long) == "x" * (names.MAX_LENGTH - 1) + "2"


@pytest.mark.django_db
def test_find_user_ignores_case_as_unique_name_does():
    ada = make_guest("Ada")
    assert names.find_user("ada") == ada
    assert names.find_user("ADA") == ada
    assert names.find_user("Adam") is None


@pytest.mark.django_db
def test_find_user_prefers_the_exact_name_then_the_oldest_account():
    upper = make_guest("ADA")
    mixed = make_guest("Ada")  # differing only by case, as the admin allows
    assert names.find_user("Ada") == mixed
    assert names.find_user("ADA") == upper
    assert names.find_user("ada") == upper


@pytest.mark.django_db
def test_lookalike_finds_a_name_that_looks_the_same_but_is_not_it():
    make_guest("Ada")
    assert names.lookalike("\u0410\u0501\u0430") == "Ada"  # all Cyrillic
    assert names.lookalike("ada") is None  # the same name, ignoring case: unique_name numbers it
    assert names.lookalike("Eve") is None


@pytest.mark.django_db
def test_unique_name_skips_numbers_that_look_like_a_taken_name():
    make_guest("Puck")
    make_guest("Puck\u01a7")  # "PuckƧ" (a Latin tone two) reads as "Puck2"
    assert names.unique_name("Puck") == "Puck3"
