"""tests/support/isolation.py: what a test changes in the process is put back, consistently."""

from __future__ import annotations

import sys
from types import ModuleType

from tests.support.isolation import isolated_modules


def test_a_package_a_test_replaced_is_restored_whole_with_no_module_bound_to_the_replacement() -> None:
    # The local stack's in-process runtime imports a fresh copy of the handler package; a module
    # first imported meanwhile (bound to that copy) must not outlive it beside the restored one.
    old_config, other = ModuleType("isopkg.config"), ModuleType("isoother")
    sys.modules.update({"isopkg": ModuleType("isopkg"), "isopkg.config": old_config})
    try:
        with isolated_modules():
            sys.modules["isopkg.config"] = ModuleType("isopkg.config")  # the fresh copy
            sys.modules["isopkg.registrations"] = ModuleType("isopkg.registrations")  # bound to it
            sys.modules["isoother"] = other  # another package, first imported meanwhile

        assert sys.modules["isopkg.config"] is old_config
        assert "isopkg.registrations" not in sys.modules
        assert sys.modules["isoother"] is other
    finally:
        for name in ("isopkg", "isopkg.config", "isopkg.registrations", "isoother"):
            sys.modules.pop(name, None)
