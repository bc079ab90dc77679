"""The one cursor codec (app/web/pagination.py): what each listing hands out reads back, and
anything else is 400 invalid_cursor, never another listing's position or a 500."""
import base64
from datetime import datetime

import pytest

from app import errors
from app.web import pagination


def b64(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_the_journal_cursor_is_the_seq():
    assert pagination.seq_cursor(2) == "c2VxOjI" == b64("seq:2")  # the documented example
    assert pagination.read_seq_cursor("c2VxOjI") == 2
    assert pagination.read_seq_cursor(b64(f"seq:{2**63 - 1}")) == 2**63 - 1


@pytest.mark.parametrize("text", ["seq:", "seq:-1", "seq:1.0", f"seq:{2**63}", "seq:" + "9" * 5000, "hold:1"])
def test_a_seq_cursor_out_of_range_is_invalid(text):
    with pytest.raises(errors.InvalidCursor):
        pagination.read_seq_cursor(b64(text))


@pytest.mark.parametrize("kind", ["hold", "wd", "evt", "pr"])
def test_a_position_reads_back_in_its_own_listing_only(kind):
    doc = {"created_at": datetime(2025, 11, 21, 12, 0, 0, 123000), "_id": f"{kind}_6560a1f0c2b4e81d9a3f0a51"}
    cursor = pagination.position_cursor(doc, kind)
    assert pagination.read_position_cursor(cursor, kind) == (doc["created_at"], doc["_id"])
    with pytest.raises(errors.InvalidCursor):
        pagination.read_position_cursor(cursor, "other")
    with pytest.raises(errors.InvalidCursor):
        pagination.read_seq_cursor(cursor)


def test_holds_and_withdrawals_read_the_cursors_they_handed_out_before():
    # kind:milliseconds:_id, the spelling app/routes/__init__.py's kind_cursor wrote
    cursor = b64("hold:1763726400123:hold_6560a1f0c2b4e81d9a3f0a51")
    assert pagination.read_position_cursor(cursor, "hold") == (
        datetime(2025, 11, 21, 12, 0, 0, 123000), "hold_6560a1f0c2b4e81d9a3f0a51")


def test_the_feed_and_payment_requests_read_the_cursors_they_handed_out_before():
    # created_at isoformat|_id, the spelling of the former stamp_cursor
    cursor = b64("2025-11-21T12:00:00.123000|evt_6560a1f0c2b4e81d9a3f0a51")
    expected = (datetime(2025, 11, 21, 12, 0, 0, 123000), "evt_6560a1f0c2b4e81d9a3f0a51")
    assert pagination.read_position_cursor(cursor, "evt", legacy=True) == expected
    with pytest.raises(errors.InvalidCursor):
        pagination.read_position_cursor(cursor, "evt")  # holds and withdrawals never wrote one


@pytest.mark.parametrize("cursor", [
    "", "!!!", b64("seq:1"), b64("hold:12:"), b64("hold:1x:hold_1"), b64("hold:1:2:hold_1"),
    b64("hold:" + "9" * 16 + ":hold_1"), b64("hold:1:hold_é"), "////", b64("hold:" + "9" * 15 + ":hold_1"),
])
def test_anything_else_is_an_invalid_cursor(cursor):
    with pytest.raises(errors.InvalidCursor):
        pagination.read_position_cursor(cursor, "hold")


def test_page_limit_lives_with_the_codec_and_no_blueprint_defines_one():
    import pathlib
    routes = pathlib.Path(pagination.__file__).resolve().parents[1] / "routes"
    for path in routes.glob("*.py"):
        text = path.read_text()
        assert "def page_limit" not in text and "b64" not in text, path.name
