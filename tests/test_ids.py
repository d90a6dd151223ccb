"""Identifiers: ULIDs in Crockford base32 that carry their creation time and sort in creation order."""

import itertools
import re
import time

from parley import ids

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID = re.compile(r"^msg_[0-9A-HJKMNP-TV-Z]{26}$")


def _decode(ulid: str) -> int:
    value = 0
    for char in ulid:
        value = value * 32 + CROCKFORD.index(char)
    return value


def test_an_id_carries_the_time_it_was_made_in_its_first_ten_digits() -> None:
    before = time.time_ns() // 1_000_000
    made = ids.new_id(ids.MESSAGE)
    after = time.time_ns() // 1_000_000
    assert ID.match(made), made
    value = _decode(made.removeprefix("msg_"))
    assert value < 1 << 128
    assert before <= value >> 80 <= after


def test_ids_sort_in_creation_order_within_one_millisecond() -> None:
    made = [ids.new_id(ids.MESSAGE) for _ in range(20_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    values = [_decode(item.removeprefix("msg_")) for item in made]
    # Within a millisecond the random part counts up by one.
    same_ms = [(a, b) for a, b in itertools.pairwise(values) if a >> 80 == b >> 80]
    assert same_ms, "20,000 ids were expected to share at least one millisecond"
    assert all(b == a + 1 for a, b in same_ms)


def test_ids_of_different_milliseconds_have_unrelated_random_parts() -> None:
    first = ids.new_id(ids.USER)
    time.sleep(0.003)
    second = ids.new_id(ids.USER)
    low = (1 << 80) - 1
    assert _decode(first[5:]) & low != _decode(second[5:]) & low
