"""``no_garbage_collection`` (core/memory.py): off within the block, back on after it."""

import gc

import pytest

from core.memory import no_garbage_collection


def test_collection_is_off_within_the_block_and_back_on_after_it_even_when_it_raises():
    assert gc.isenabled()
    with no_garbage_collection():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), no_garbage_collection():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_block_within_another_leaves_it_off_and_a_decorated_function_too():
    @no_garbage_collection()
    def inner():
        return gc.isenabled()

    with no_garbage_collection():
        assert inner() is False
        assert not gc.isenabled()  # the inner block found it off, so left it off
    assert gc.isenabled()
    assert inner() is False and gc.isenabled()
