"""LTI 1.3 resource-link launches: the second kind of sign-in, on the partner flow's spine.

``/lti/login`` sends the browser to the platform with a fresh ``state`` and ``nonce``
(``service.py``, ``state.py``); the platform form-posts an ``id_token`` to ``/lti/launch``,
verified as a partner's token plus LTI's claim rules (``claims.py``), and the sign-in ends as
every sign-in does. ``/lti/jwks`` serves the tool's KMS public key (``tool_key.py``).
"""
