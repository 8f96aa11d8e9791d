"""LTI 1.3 resource-link launches: a learning platform's ``id_token`` in, Big Interview signed in.

The second kind of sign-in (the first is a partner's JWT at ``/sso``). The flow
is the 1EdTech LTI 1.3 Core / Security Framework 1.0 OIDC third-party-initiated
login: ``/lti/login`` (``login.py`` → ``service.py``) sends the browser to the
platform with a fresh ``state`` and ``nonce`` (``state.py``), the platform
form-posts an ``id_token`` to ``/lti/launch``, which is verified with the
partner flow's verifier and key source (``claims.py``), and the rest is the
partner flow's: the Partner API, the redirect rules and the login URL.
``/lti/jwks`` serves the tool's public key from AWS KMS (``tool_key.py``). A
platform registration comes from a ``RegistrationSource`` (``registrations.py``).
"""
