"""BufferedRandom: distinct bytes, never repeated across a fork."""

from __future__ import annotations

import os

from warden.logical.randomness import BufferedRandom


def test_draws_are_distinct_and_sized() -> None:
    rand = BufferedRandom()
    seen = {rand(12) for _ in range(2000)}
    assert len(seen) == 2000 and all(len(x) == 12 for x in seen)
    assert len(rand(5000)) == 5000


def test_a_forked_child_never_repeats_the_parents_bytes() -> None:
    rand = BufferedRandom()
    rand(12)  # fill the buffer before forking
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report what it would use next
        os.write(write, rand(12))
        os._exit(0)
    os.close(write)
    child = os.read(read, 12)
    os.waitpid(pid, 0)
    assert child != rand(12)
