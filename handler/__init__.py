"""Big Interview SSO redirector: partner JWT in, Big Interview SSO 302 out."""

__version__ = "0.1.0"
