"""Giving the C heap's free memory back to the system before each unit's fit (glibc's ``malloc_trim``)."""

from __future__ import annotations

import ctypes

import pytest

from ensemble_byoc.contract import memory


def test_the_c_library_here_can_give_its_heaps_free_memory_back() -> None:
    assert hasattr(ctypes.CDLL(None), "malloc_trim")  # glibc: the call the fit makes is really there

    memory.return_free_heap()


def test_a_c_library_without_malloc_trim_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class OtherLibc:
        """A C library (musl, macOS's) that has no ``malloc_trim``."""

    monkeypatch.setattr(memory.ctypes, "CDLL", lambda name: OtherLibc())

    memory.return_free_heap()
