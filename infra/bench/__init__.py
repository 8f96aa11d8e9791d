"""``make bench``: cold start, warm overhead, calls, memory and artifact size, against a reference.

Kept empty of imports: child processes import ``infra.bench.reference`` and
must not pay for anything else.
"""
