"""
Clicks go to a journal file of the web process, and the shipper loads them exactly once.

These tests turn off the test settings' eager shipping and run the shipper themselves.
"""

import fcntl
import json
import os
from pathlib import Path

import pytest

from referrals import clicks
from referrals.models import Click, ClickJournalOffset
from referrals.services import hash_ip


@pytest.fixture
def journal_dir(settings, _click_journal) -> Path:
    settings.CLICK_JOURNAL_SHIP_EAGERLY = False
    return _click_journal


def click(link, user_agent="UA/1", referer="", ip="10.0.0.1"):
    clicks.record(
        organization_id=link.organization_id,
        link_id=link.pk,
        ip=ip,
        user_agent=user_agent,
        referer=referer,
    )


def journals(directory: Path) -> list[Path]:
    return sorted(directory.glob("clicks-*.jsonl"))


HOSTILE = [
    "line one\nline two",
    "cr\r\nSet-Cookie: stolen=1",
    "tab\there",
    "nul\x00byte",
    "escape \x1b[31mred\x1b[0m and delete \x7f",
    'quotes " and backslash \\ and {"json": [1]}',
    "Müller’s phone ☎ 😀",
    "x" * 10_000,
    "\n" * 5000 + "after the newlines",
]


@pytest.mark.parametrize("user_agent", HOSTILE)
def test_a_hostile_user_agent_is_one_line_and_comes_back_clean(user_agent):
    line = clicks.encode(
        at=1_700_000_000.123456,
        organization_id=7,
        link_id=9,
        ip_hash="ab" * 32,
        user_agent=user_agent,
        referer=user_agent,
    )
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    fields = [1, 1_700_000_000.123456, 7, 9, "ab" * 32, clicks.clean(user_agent)]
    assert line == (json.dumps([*fields, fields[-1]], separators=(",", ":")) + "\n").encode()
    assert b"\r" not in line and b"\t" not in line and b"\x00" not in line
    org, link, at, ip_hash, agent, referer = clicks.decode(line.decode())
    assert (org, link, ip_hash) == (7, 9, "ab" * 32)
    assert at.timestamp() == pytest.approx(1_700_000_000.123456, abs=1e-6)
    expected = "".join(c for c in user_agent if c >= " " and c != "\x7f")[:400]
    assert agent == referer == expected
    assert len(agent) <= 400


def test_hostile_headers_reach_the_table_clean(client, link):
    agent = "evil\r\nX-Injected: 1\x00\t" + "z" * 10_000
    response = client.get(f"/r/{link.code}", HTTP_USER_AGENT=agent, HTTP_REFERER="a\nb")
    assert response.status_code == 200
    stored = Click.objects.get(link=link)
    assert stored.user_agent == ("evilX-Injected: 1" + "z" * 10_000)[:400]
    assert stored.referer == "ab"


@pytest.mark.parametrize(
    "line",
    [
        "",
        "not json",
        "[1, 1.5, 1, 2]",
        '[2, 1.5, 1, 2, "h", "ua", ""]',
        '[1, "soon", 1, 2, "h", "ua", ""]',
        '[1, 1.5, "1", 2, "h", "ua", ""]',
        '{"format": 1}',
        "\x00\x00\x00\x00",
    ],
)
def test_anything_but_a_click_line_is_refused(line):
    with pytest.raises(ValueError, match="not a click line"):
        clicks.decode(line)


def test_the_ip_is_hashed_as_everywhere_else():
    for ip in ("10.1.2.3", "2001:db8::1", "127.0.0.1"):
        assert clicks.hash_ip(ip) == hash_ip(ip)
    assert clicks.hash_ip("") == ""


def test_a_click_is_a_line_in_this_process_journal_until_shipped(journal_dir, link):
    click(link, ip="10.9.9.9")
    assert not Click.objects.exists()
    [path] = journals(journal_dir)
    assert f"-{os.getpid()}-" in path.name
    line = path.read_text()
    assert "10.9.9.9" not in line  # the journal holds the hash, never the address
    assert clicks.decode(line.rstrip("\n"))[3] == hash_ip("10.9.9.9")


def test_shipping_twice_loads_each_click_once(journal_dir, link):
    for n in range(5):
        click(link, user_agent=f"UA/{n}")
    assert clicks.ship() == 5
    assert clicks.ship() == 0
    click(link, user_agent="UA/5")
    assert clicks.ship() == 1
    assert sorted(Click.objects.values_list("user_agent", flat=True)) == [
        f"UA/{n}" for n in range(6)
    ]
    [path] = journals(journal_dir)
    assert ClickJournalOffset.objects.get(name=path.name).offset == path.stat().st_size


def test_a_crash_before_the_offset_is_saved_loads_nothing_twice(journal_dir, link, monkeypatch):
    for n in range(3):
        click(link, user_agent=f"UA/{n}")

    insert = clicks._insert

    def insert_then_crash(rows):
        insert(rows)
        assert Click.objects.count() == 3  # loaded, in the shipper's transaction
        raise RuntimeError("the shipper died after COPY, before committing its offset")

    with monkeypatch.context() as patch:
        patch.setattr(clicks, "_insert", insert_then_crash)
        with pytest.raises(RuntimeError):
            clicks.ship()
    # The load and the offset are one transaction: both rolled back.
    assert not Click.objects.exists()
    assert not ClickJournalOffset.objects.filter(offset__gt=0).exists()
    assert clicks.ship() == 3
    assert clicks.ship() == 0
    assert Click.objects.count() == 3


def test_journals_rotate_by_size_and_the_shipped_ones_are_deleted(settings, journal_dir, link):
    settings.CLICK_JOURNAL_ROTATE_BYTES = 300  # two or three lines a file
    for n in range(12):
        click(link, user_agent=f"UA/{n}")
    written = journals(journal_dir)
    assert len(written) >= 4
    assert clicks.ship() == 12
    # Every file but the one still being written is sealed, loaded and removed, with its
    # offset row; the current one stays until the process rotates or ends.
    [current] = journals(journal_dir)
    assert current == written[-1] == clicks.journal.path
    assert list(ClickJournalOffset.objects.values_list("name", flat=True)) == [current.name]
    clicks.journal.close()  # as when the process ends
    assert clicks.ship() == 0
    assert journals(journal_dir) == [] and not ClickJournalOffset.objects.exists()
    assert Click.objects.count() == 12


def test_journals_rotate_by_age(settings, journal_dir, link):
    settings.CLICK_JOURNAL_ROTATE_SECONDS = 0  # each click finds its file too old
    for n in range(3):
        click(link, user_agent=f"UA/{n}")
    assert len(journals(journal_dir)) == 3
    assert clicks.ship() == 3
    assert len(journals(journal_dir)) == 1


def test_a_file_is_sealed_only_when_no_writer_holds_it(journal_dir, link):
    click(link)
    [path] = journals(journal_dir)
    with open(path, "rb") as handle, pytest.raises(BlockingIOError):
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    clicks.ship()
    assert path.exists()  # still being written: loaded, kept
    clicks.journal.close()
    clicks.ship()
    assert not path.exists()


def test_a_line_torn_by_a_crash_and_garbage_are_skipped(journal_dir, link, caplog):
    good = clicks.encode(
        at=1_700_000_000.0,
        organization_id=link.organization_id,
        link_id=link.pk,
        ip_hash="",
        user_agent="good",
        referer="",
    )
    journal_dir.mkdir(parents=True, exist_ok=True)
    path = journal_dir / "clicks-crashed-node-1-1-000001.jsonl"
    path.write_bytes(good + b"\x00\x00garbage\n" + good + good[:20])  # a torn tail, no writer
    assert clicks.ship() == 2
    assert not path.exists()
    assert "not a click" in caplog.text and "torn" in caplog.text
    assert list(Click.objects.values_list("user_agent", flat=True)) == ["good", "good"]


def test_clicks_of_a_deleted_link_do_not_block_the_others(journal_dir, link, program, acme):
    from tests.factories import ReferralLinkFactory, ReferralSourceFactory

    other = ReferralLinkFactory(
        program=program, source=ReferralSourceFactory(organization=acme, kind="customer")
    )
    click(link, user_agent="kept")
    click(other, user_agent="gone")
    other.delete()
    assert clicks.ship() == 1
    assert list(Click.objects.values_list("user_agent", flat=True)) == ["kept"]
    assert clicks.ship() == 0


def test_a_line_naming_another_organization_than_its_link_is_not_loaded(journal_dir, link, globex):
    clicks.record(
        organization_id=globex.pk, link_id=link.pk, ip="", user_agent="forged", referer=""
    )
    assert clicks.ship() == 0
    assert not Click.objects.exists()


def test_a_file_another_shipper_finished_is_left_alone(journal_dir, link):
    click(link)
    clicks.journal.close()
    [path] = journals(journal_dir)
    with open(path, "rb") as handle:
        path.unlink()  # another shipper loaded and removed it after we opened it
        count, offset, more = clicks._ship_batch(path, handle)
    assert (count, offset, more) == (0, None, False)
    assert not Click.objects.exists() and not ClickJournalOffset.objects.exists()


def test_an_unwritable_journal_stores_the_click_directly(settings, journal_dir, link, caplog):
    blocker = journal_dir.parent / "not-a-directory"
    blocker.write_text("")
    settings.CLICK_JOURNAL_DIR = blocker / "clicks"
    click(link, user_agent="direct")
    assert list(Click.objects.values_list("user_agent", flat=True)) == ["direct"]
    assert "not writable" in caplog.text


def test_a_forked_child_writes_a_journal_of_its_own(journal_dir, link):
    click(link, user_agent="parent")
    pid = os.fork()
    if pid == 0:  # the child: one click, then out without running the test's teardown
        try:
            click(link, user_agent="child")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    names = [p.name for p in journals(journal_dir)]
    assert len(names) == 2 and any(f"-{pid}-" in n for n in names)
    assert clicks.ship() == 2
    assert len(journals(journal_dir)) == 1  # the child's file, unlocked at its exit, is gone


def test_the_ship_clicks_command_loads_the_journals(journal_dir, link):
    from django.core.management import call_command

    click(link)
    clicks.journal.close()
    call_command("ship_clicks", "--once", "--nice", "0")
    assert Click.objects.count() == 1
    assert journals(journal_dir) == []


def test_lines_are_json_a_reader_can_follow(journal_dir, link):
    click(link, user_agent="reader")
    [path] = journals(journal_dir)
    fields = json.loads(path.read_text())
    assert fields[0] == clicks.LINE_FORMAT and fields[2:4] == [link.organization_id, link.pk]
