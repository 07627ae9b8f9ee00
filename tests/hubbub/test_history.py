from datetime import timedelta

import pytest
from django.utils import timezone

from hubbub import history
from hubbub.models import StoredUpdate
from hubbub.updates import Update

pytestmark = pytest.mark.django_db


def store(n: int, **kwargs) -> list[int]:
    return history.store([Update.create("t", str(i), id=f"u{i}", **kwargs) for i in range(n)])


def test_store_returns_increasing_sequence_numbers():
    seqs = store(3)
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    row = StoredUpdate.objects.get(seq=seqs[0])
    assert row.to_update() == Update.create("t", "0", id="u0")


def test_position_and_batches():
    seqs = store(5)
    assert history.position("u1") == seqs[1]
    assert history.position("earliest") == 0
    assert history.position("missing") is None
    assert [u.id for _, u in history.batch_after(seqs[1])] == ["u2", "u3", "u4"]
    assert [u.id for _, u in history.batch_after(0, limit=2)] == ["u0", "u1"]
    assert history.last_id() == "u4"


def test_position_of_a_reused_id_is_its_latest_use():
    history.store([Update.create("t", id="same")])
    history.store([Update.create("t", id="other")])
    [latest] = history.store([Update.create("t", id="same")])
    assert history.position("same") == latest


def test_prune_by_count(settings):
    settings.HUBBUB_HISTORY_MAX_COUNT = 3
    store(10)
    assert history.prune() == 7
    assert list(StoredUpdate.objects.values_list("uid", flat=True)) == ["u7", "u8", "u9"]


def test_prune_by_age(settings):
    settings.HUBBUB_HISTORY_MAX_AGE = 60
    store(3)
    StoredUpdate.objects.filter(uid="u0").update(created=timezone.now() - timedelta(seconds=61))
    assert history.prune() == 1
    assert not StoredUpdate.objects.filter(uid="u0").exists()


def test_last_id_of_empty_history():
    assert history.last_id() is None


def test_send_gets_the_batch_in_order_and_what_it_did_not_take_is_removed():
    got = []

    def send(batch):
        got.extend(batch)
        return 2

    seqs = history.store([Update.create("t", id=f"b{i}") for i in range(4)], send)
    assert [seq for seq, _ in got] == seqs and [u.id for _, u in got] == ["b0", "b1", "b2", "b3"]
    assert list(StoredUpdate.objects.values_list("uid", flat=True)) == ["b0", "b1"]


def test_a_failing_send_removes_the_whole_batch():
    def send(batch):
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        history.store([Update.create("t"), Update.create("t")], send)
    assert not StoredUpdate.objects.exists()
