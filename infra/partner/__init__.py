"""Tools for a partner's developer: make a signing key, mint a test token, check a link.

Run through ``make keys``, ``make token`` and ``make check-link`` (see
``docs/partner-guide.md``). ``check_link`` reuses the service's own verifier
(``handler.tokens.TokenVerifier``), so what it says is what the service would do.
"""
