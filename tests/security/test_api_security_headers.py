"""The web page keeps an API key in the browser and shows what other parties wrote (titles,
class names and colours, result files named by an application). Every answer carries
``nosniff``, ``X-Frame-Options: DENY`` and ``no-referrer``; the page (``/web/``) a Content
Security Policy allowing this server only, and no inline script or style. Before, no answer
carried any of them. (The browser test, tests/api/test_web_app.py, checks the page runs under
the policy with no violation.)"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_client import in_process  # noqa: E402

from eotrust.api.security_headers import WEB_CSP  # noqa: E402
from eotrust.settings import load_settings  # noqa: E402


def test_every_answer_says_nosniff_and_no_framing_and_the_page_has_its_policy(tmp_path: Path) -> None:
    with in_process(load_settings(home=tmp_path / "home")) as client:
        page = client.get("/web/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        policy = page.headers["content-security-policy"]
        assert policy == WEB_CSP
        for directive in ("script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'"):
            assert directive in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        for path in ("/web/", "/web/app.js", "/conformance", "/catalog/datasets", "/no/such/route", "/api.html"):
            r = client.get(path)
            assert r.headers["x-content-type-options"] == "nosniff", path
            assert r.headers["x-frame-options"] == "DENY", path
            assert r.headers["referrer-policy"] == "no-referrer", path
        # errors too (an answer produced by the error handler)
        bad = client.post("/catalog/datasets", content=b"{", headers={"Content-Type": "application/json"})
        assert bad.status_code >= 400 and bad.headers["x-content-type-options"] == "nosniff"


def test_the_api_documentation_runs_no_inline_script_and_has_its_policy(tmp_path: Path) -> None:
    """``/api.html`` (Swagger UI) shows the server's OpenAPI document, in which every party's
    catalogue never appears, yet the page can hold a key typed into "Authorize": it has a policy
    too, and its start-up script is a file of the server's, not inline text."""
    import re

    with in_process(load_settings(home=tmp_path / "home")) as client:
        page = client.get("/api.html")
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == WEB_CSP
        assert "script-src 'self'" in WEB_CSP and "unsafe-eval" not in WEB_CSP
        assert "'unsafe-inline'" not in WEB_CSP.split("script-src", 1)[1].split(";", 1)[0]
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
        assert scripts and all(body.strip() == "" and "src=" in attrs for attrs, body in scripts), scripts
        started = ""
        for src in re.findall(r'<script src="([^"]+)"', page.text):
            js = client.get(src)
            assert js.status_code == 200 and "javascript" in js.headers["content-type"], src
            started += js.text if "bundle" not in src else ""
        assert "SwaggerUIBundle(" in started  # the start-up script, served as a file
