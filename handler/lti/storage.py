"""Platform Storage: the state's browser binding kept in the platform's storage frame, not a cookie.

1EdTech's LTI Client Side postMessages and Platform Storage specifications: a platform
that announces a storage target (``lti_storage_target`` in the login initiation and the
launch: ``_parent`` or the name of a frame beside the tool's, e.g. Canvas's
``post_message_forwarding``) keeps small values for the tool, per tool origin, through
``lti.put_data`` / ``lti.get_data`` postMessages. Where an LMS frame blocks the tool's
third-party cookie, the binding travels this way:

- ``/lti/login`` answers ``login_page``: it puts the binding under the state's key, and
  continues to the platform's authorization endpoint when the answer comes (or after a
  short wait: the cookie, also set, may still work);
- ``/lti/launch`` without the cookie answers ``launch_page``: it gets the binding back and
  form-posts it with the ``id_token`` and ``state`` to ``/lti/launch``, which uses the state
  once exactly as with a cookie.

Where neither the cookie nor a storage frame carries the binding, the launch answers
``new_window_page``: its button starts the same login again in a new window, top-level,
where the tool's cookie is first-party.

The platform's origin (what messages are sent to, and the only origin whose answers are
read) is the origin of the registration's authorization endpoint (``auth_url``): the
specification names it, and Canvas serves its storage frame there. Both pages carry one
static script, allowed by its SHA-256 in the page's CSP; what differs between pages is
data in a JSON block, which no browser runs. Their referrer policy is ``same-origin``, not
the service's ``no-referrer``: under ``no-referrer`` a browser sends ``Origin: null`` with
the launch page's form post, and that post counts only with this service's ``Origin``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Mapping

from handler.lti.state import digest
from handler.url_rules import origin_of

__all__ = [
    "BINDING_FIELD",
    "READ_FIELD",
    "launch_page",
    "login_page",
    "new_window_page",
    "new_window_page_policy",
    "platform_origin",
    "storage_key",
    "storage_page_policy",
    "storage_target",
]

# The form field the launch page posts the binding in (never a field a platform sends).
BINDING_FIELD = "lti_storage_binding"
# Posted by the launch page whatever it found: a post carrying it never gets the page again.
READ_FIELD = "lti_storage_read"
_TARGET_FIELD = "lti_storage_target"
# A frame name or _parent: what a platform announces; anything else is not a target.
_TARGET = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# How long the page waits for the platform's answer before going on without it, and how often
# it asks again meanwhile.
_WAIT_MS = 2000
_RETRY_MS = 50

_SCRIPT = """(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("lti-storage").textContent);
  var host = window.parent !== window ? window.parent : window.opener;
  var wanted = "lti." + data.mode + "_data";
  var messageId = "bi-" + Math.random().toString(36).slice(2) + Date.now().toString(36);
  var frame = null;
  var done = false;
  function named(name) {
    try { return name === "_parent" ? host : host.frames[name] || null; } catch (error) { return null; }
  }
  function finish(value) {
    if (done) { return; }
    done = true;
    if (data.mode === "put") {
      window.location.replace(data.next);
    } else {
      // Without a value the post carries no binding: the answer is the new-window page.
      var form = document.getElementById("launch");
      if (typeof value === "string") { form.elements[data.field].value = value; }
      form.submit();
    }
  }
  function send() {
    var message = { subject: wanted, message_id: messageId, key: data.key };
    if (data.mode === "put") { message.value = data.value; }
    try { frame.postMessage(message, data.origin); } catch (error) { finish(null); }
  }
  window.addEventListener("message", function (event) {
    var answer = event.data;
    if (!answer || typeof answer !== "object" || answer.message_id !== messageId) { return; }
    if (answer.subject === "lti.capabilities.response" && frame === null && event.source === host) {
      // Only where to send: the data's answers are still read from the platform's origin alone.
      var offered = (answer.supported_messages || []).filter(function (m) {
        return m && m.subject === wanted;
      })[0];
      frame = offered ? (offered.frame ? named(offered.frame) : host) : null;
      if (frame) { send(); } else { finish(null); }
      return;
    }
    if (frame === null || event.source !== frame || event.origin !== data.origin) { return; }
    if (answer.subject !== wanted + ".response") { return; }
    finish(answer.error ? null : answer.value);
  });
  window.setTimeout(function () { finish(null); }, data.wait);
  if (!host) { finish(null); return; }
  frame = data.target ? named(data.target) : null;
  // Asked again until answered: a storage frame still loading drops what it is sent.
  (function ask() {
    if (done) { return; }
    if (frame) {
      send();
    } else {
      // No target announced, or no such frame: ask the platform (LTI Client Side postMessages).
      host.postMessage({ subject: "lti.capabilities", message_id: messageId }, "*");
    }
    window.setTimeout(ask, data.retry);
  })();
})();
"""
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")


def storage_page_policy(*form_targets: str) -> str:
    """Shown inside the LMS's frame: no third-party resource, one script (by its hash), forms only to
    us and to ``form_targets`` (a form's redirect is held to form-action too: Big Interview's origin).
    """
    targets = " ".join(("'self'", *form_targets))
    return (
        f"default-src 'none'; script-src 'sha256-{_SCRIPT_HASH}'; style-src 'unsafe-inline'; "
        f"frame-ancestors *; base-uri 'none'; form-action {targets}"
    )


def new_window_page_policy(platform: str) -> str:
    """The new-window page: no script at all, one form to our login, which redirects to ``platform``.

    A browser holds the form's redirects to ``form-action`` too, and a platform's authorization
    endpoint may send the browser on to another host of its own (Canvas's ``sso.canvaslms.com``
    to the institution's domain, Blackboard's gateway to its Learn host): any https host may
    follow ``platform`` (which may itself be http on loopback, ``make dev``'s).
    """
    return (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *; base-uri 'none'; "
        f"form-action 'self' {platform} https:"
    )


_STYLE = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}"
_NEW_WINDOW_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Open Big Interview in a new window</title>
<style>{style} .ref{{color:#555;font-size:.875rem}}</style>
</head>
<body>
<main>
<h1>Open Big Interview in a new window</h1>
<p>{message}</p>
<form method="post" action="{action}" target="_blank">
{inputs}<p><button type="submit">Open Big Interview in a new window</button></p>
</form>
<p class="ref">Error code: <code>{code}</code><br>Reference: <code>{request_id}</code></p>
</main>
</body>
</html>
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>Opening Big Interview</title>
<style>{style}</style>
</head>
<body>
<main>
<h1>Opening Big Interview</h1>
{body}
</main>
<script type="application/json" id="lti-storage">{data}</script>
<script>{script}</script>
</body>
</html>
"""


def storage_target(*sources: dict[str, str]) -> str | None:
    """The storage target the platform announced (the first source that names a valid one)."""
    for source in sources:
        value = source.get(_TARGET_FIELD, "")
        if _TARGET.match(value):
            return value
    return None


def storage_key(state: str) -> str:
    """The key the binding is kept under: one per state, and not the state itself."""
    return f"bi-lti-state-{digest(state)[:32]}"


def platform_origin(auth_url: str) -> str:
    """The origin of the platform's authorization endpoint: where storage messages go and come from."""
    return origin_of(auth_url)


def _page(body: str, data: Mapping[str, object]) -> str:
    # In a JSON block "</" would end the element: escape it, and the rest stays valid JSON.
    text = json.dumps(data).replace("</", "<\\/")
    return _PAGE.format(body=body, data=text, script=_SCRIPT, style=_STYLE)


def _hidden(fields: dict[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">\n'
        for name, value in fields.items()
    )


def login_page(state: str, binding: str, target: str, auth_url: str, location: str) -> str:
    """Put ``binding`` in the platform's storage, then go to ``location`` (the authentication request)."""
    data = {
        "mode": "put",
        "target": target,
        "origin": platform_origin(auth_url),
        "key": storage_key(state),
        "value": binding,
        "next": location,
        "wait": _WAIT_MS,
        "retry": _RETRY_MS,
    }
    body = (
        '<p id="waiting">Connecting to your learning platform…</p>\n'
        f'<noscript><p><a href="{html.escape(location)}">Continue</a></p></noscript>'
    )
    return _page(body, data)


def launch_page(id_token: str, state: str, target: str | None, origin: str, action: str) -> str:
    """Get the binding back from the platform's storage and post it with the launch to ``action``."""
    data = {
        "mode": "get",
        "target": target,
        "origin": origin,
        "key": storage_key(state),
        "field": BINDING_FIELD,
        "wait": _WAIT_MS,
        "retry": _RETRY_MS,
    }
    inputs = _hidden({"id_token": id_token, "state": state, BINDING_FIELD: "", READ_FIELD: "1"})
    body = (
        f'<form id="launch" method="post" action="{html.escape(action)}">\n{inputs}</form>\n'
        '<p id="waiting">Connecting to your learning platform…</p>'
    )
    return _page(body, data)


def new_window_page(message: str, code: str, request_id: str, login: dict[str, str], action: str) -> str:
    """The refusal's page, with a button that posts ``login`` to ``action`` (our login) in a new window."""
    return _NEW_WINDOW_PAGE.format(
        style=_STYLE,
        message=html.escape(message),
        action=html.escape(action),
        inputs=_hidden(login),
        code=html.escape(code),
        request_id=html.escape(request_id),
    )
