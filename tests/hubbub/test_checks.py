import pytest
from django.core import checks


def errors() -> list[str]:
    return [message.id for message in checks.run_checks() if message.id.startswith("hubbub.")]


def test_default_settings_pass():
    assert errors() == []


@pytest.mark.parametrize("limit", [513, 0, "512"])
def test_an_id_length_the_history_cannot_store_is_an_error(settings, limit):
    settings.HUBBUB_MAX_ID_LENGTH = limit
    assert errors() == ["hubbub.E001"]
