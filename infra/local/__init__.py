"""The local development stack behind ``make dev`` (dev-only; never deployed).

``LocalStack`` (``stack.py``) runs moto as Secrets Manager, a sandbox Big
Interview, a development identity provider and the handler behind a local API
Gateway, all on 127.0.0.1; each piece is also usable alone. ``stack.py``
explains how the same variables point it at real services instead.
"""
