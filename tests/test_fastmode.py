import pytest

from lmbase.fastmode import FAST_MODE_VARIABLE, is_fast_mode, pick


def test_pick_follows_the_variable(monkeypatch):
    monkeypatch.setenv(FAST_MODE_VARIABLE, "1")
    assert is_fast_mode() and pick(5000, 200) == 200
    monkeypatch.setenv(FAST_MODE_VARIABLE, "0")
    assert not is_fast_mode() and pick(5000, 200) == 5000
    monkeypatch.delenv(FAST_MODE_VARIABLE)
    assert pick(5000, 200) == 5000  # full mode is the default


def test_a_misspelled_value_is_refused(monkeypatch):
    monkeypatch.setenv(FAST_MODE_VARIABLE, "fast")
    with pytest.raises(ValueError, match="LMBOOK_FAST='fast'"):
        is_fast_mode()
