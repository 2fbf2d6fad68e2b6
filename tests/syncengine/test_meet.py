"""The pure decision taken on meeting a shared log (syncengine.core.meet), without a database."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from syncengine.core import LogPlace, meet
from syncengine.model import DeviceInfo


def _info(last_push_seq: int | None = None, last_batch_id: str | None = None, last_pull_seq: int = 0) -> DeviceInfo:
    return DeviceInfo(
        "dev",
        "laptop",
        "default",
        0.0,
        last_pull_seq=last_pull_seq,
        log_id="L",
        last_push_seq=last_push_seq,
        last_batch_id=last_batch_id,
    )


def test_a_devices_first_log_is_not_new_and_nothing_is_restated() -> None:
    met = meet(_info(), None, {}, legacy_cursor=None, prepared=())
    assert met.place == LogPlace() and not met.new_log and met.copied is None


def test_the_log_it_synced_with_last_is_the_same_log() -> None:
    met = meet(_info(7, "b7"), "L", {"L": LogPlace(40, 7)}, legacy_cursor=None, prepared=())
    assert met.place == LogPlace(40, 7) and not met.new_log and met.copied is None


def test_a_log_it_never_met_after_another_is_new_and_read_from_its_start() -> None:
    met = meet(_info(), "OTHER", {"OTHER": LogPlace(9, 3)}, legacy_cursor=None, prepared=())
    assert met.place == LogPlace(0, None) and met.new_log and met.copied is None


def test_coming_back_to_a_log_keeps_its_cursor_but_restates() -> None:
    met = meet(
        _info(3, "b3"), "OTHER", {"L": LogPlace(12, 3), "OTHER": LogPlace(5, None)}, legacy_cursor=None, prepared=()
    )
    assert met.place == LogPlace(12, 3) and met.new_log and met.copied is None


def test_a_newer_batch_of_its_own_id_that_it_did_not_prepare_means_another_database_has_the_id() -> None:
    met = meet(_info(9, "someone else's"), "L", {"L": LogPlace(40, 7)}, legacy_cursor=None, prepared={"b8"})
    assert met.copied is not None and "copied" in met.copied and not met.new_log


def test_a_batch_pushed_by_a_sync_that_died_before_recording_it_is_its_own() -> None:
    met = meet(_info(9, "b9"), "L", {"L": LogPlace(40, 7)}, legacy_cursor=None, prepared={"b9"})
    assert met.copied is None and met.place == LogPlace(40, 9)


def test_a_first_log_that_already_holds_its_ids_batches_means_a_copy() -> None:
    met = meet(_info(2, "b2"), None, {}, legacy_cursor=None, prepared=())
    assert met.copied is not None and not met.new_log


def test_an_upgraded_device_adopts_the_log_that_knew_it() -> None:
    met = meet(_info(5, "b5", last_pull_seq=30), None, {}, legacy_cursor=30, prepared=())
    assert met.place == LogPlace(30, 5) and not met.new_log and met.copied is None


def test_an_upgraded_device_meeting_a_log_that_never_knew_it_restates() -> None:
    met = meet(_info(), None, {}, legacy_cursor=30, prepared=())
    assert met.place == LogPlace() and met.new_log


@given(
    pushed=st.one_of(st.none(), st.integers(0, 50)),
    theirs=st.one_of(st.none(), st.integers(0, 50)),
    prepared=st.booleans(),
)
def test_a_database_is_called_a_copy_exactly_when_the_log_holds_a_batch_of_its_id_it_cannot_account_for(
    pushed: int | None, theirs: int | None, prepared: bool
) -> None:
    batch = None if theirs is None else f"b{theirs}"
    met = meet(
        _info(theirs, batch),
        "L",
        {"L": LogPlace(60, pushed)},
        legacy_cursor=None,
        prepared={batch} if prepared and batch else (),
    )
    unaccounted = theirs is not None and (pushed is None or theirs > pushed) and not prepared
    lost = pushed is not None and (theirs is None or theirs < pushed)  # the log went back: restored
    assert (met.copied is not None) == unaccounted
    assert (met.restored is not None) == lost
    if lost:
        assert met.place == LogPlace(0, theirs) and met.new_log
    elif not unaccounted:
        assert met.place.cursor == 60 and met.place.pushed == (
            max(theirs, pushed or 0) if theirs is not None else pushed
        )
        assert not met.new_log


def test_a_log_restored_from_before_this_databases_last_push_is_read_again_and_gets_the_whole_state() -> None:
    met = meet(_info(2, "b2"), "L", {"L": LogPlace(9, 5)}, legacy_cursor=None, prepared=())
    assert met.restored is not None and "batch number 5" in met.restored and "up to number 2" in met.restored
    assert met.place == LogPlace(0, 2) and met.new_log and met.copied is None


def test_a_registry_that_lost_this_devices_pull_cursor_means_a_restored_log_read_on_from_its_cursor() -> None:
    met = meet(_info(4, "b4", last_pull_seq=30), "L", {"L": LogPlace(52, 4, 50)}, legacy_cursor=None, prepared=())
    assert met.restored is not None and "read up to batch number 30" in met.restored and "recorded 50" in met.restored
    assert met.place == LogPlace(30, 4) and met.new_log and met.copied is None


@given(marked=st.one_of(st.none(), st.integers(0, 50)), registry=st.integers(0, 50))
def test_only_a_registry_behind_the_cursor_it_recorded_is_called_restored(marked: int | None, registry: int) -> None:
    met = meet(_info(4, "b4", last_pull_seq=registry), "L", {"L": LogPlace(60, 4, marked)}, legacy_cursor=None, prepared=())
    assert (met.restored is not None) == (marked is not None and registry < marked)
    assert met.place.cursor == (registry if met.restored else 60)
