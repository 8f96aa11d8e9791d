"""`make bench`'s Platform Storage section with one sample: it runs, and its counts are right.

No time is asserted (the lead runs the real bench); what does not depend on load is: the
login page stored the binding and the launch page read it back and posted it (one exchange
each with the platform's storage frame), and only the launch adds an HTTP request.
"""

from __future__ import annotations

from infra.bench.report import _platform_storage
from infra.bench.storage import measure_platform_storage


def test_the_storage_section_counts_the_extra_round_trips_beside_the_cookie_path() -> None:
    section = measure_platform_storage(1)
    assert section["bindings_read_back"] == 1
    paths = section["paths"]
    assert {name: (row["extra_http_requests"], row["message_exchanges"]) for name, row in paths.items()} == {
        "cookie_login": (0, 0),
        "storage_login": (0, 1),
        "storage_launch": (1, 1),
    }
    assert all(row["page_ms_p50"] >= 0 for row in paths.values())
    lines = _platform_storage(section)
    assert any(line.strip().startswith("storage: launch page (get)") for line in lines)
