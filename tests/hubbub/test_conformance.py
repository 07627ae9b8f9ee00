"""The cases of the Mercure reference hub's two conformance suites, run the way upstream runs
them (their ``.env``: ``CUSTOM_ID=1``, so the publish response's body must be exactly the id),
against ONE server configuration: in a browser, an EventSource on the hub and a fetch() POST
with the suite's token, expecting the update to arrive, or not, within two seconds.

- draft-07, dunglas/mercure at bbf271c: ``topic=`` selectors (URI templates), a token with the
  ``mercure`` claim signed with the reference hub's default key;
- Mercure 1.0, dunglas/mercure at HEAD: ``match=`` / ``match_urlpattern=`` matchers, an RFC 9068
  ``at+jwt`` token with ``authorization_details``, whose ``iss`` and ``aud`` the server is
  configured for as upstream configures its hub.
"""

from __future__ import annotations

import json
import re
import secrets

import pytest

from tests.browser import chromium

REFERENCE_KEY = "!ChangeThisMercureHubJWTSecretKey!"
SUITE_TOKEN = (
    "eyJhbGciOiJIUzI1NiJ9.eyJtZXJjdXJlIjp7InB1Ymxpc2giOlsiKiJdLCJzdWJzY3JpYmUiOlsiKiJdfX0"
    ".bVXdlWXwfw9ySx7-iV5OpUSHo34RkjUdVzDLBcc6l_g"
)
# HEAD's token: {"typ": "at+jwt"}; aud https://localhost/.well-known/mercure, iss
# https://localhost, authorization_details granting publish and subscribe on "*".
SUITE_TOKEN_1_0 = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJhdWQiOiJodHRwczovL2xvY2FsaG9zdC8ud2VsbC1rbm93bi9tZXJjdXJlIiwiaXNz"
    "IjoiaHR0cHM6Ly9sb2NhbGhvc3QiLCJhdXRob3JpemF0aW9uX2RldGFpbHMiOlt7InR5cGUiOiJodHRwczovL21lcmN1cmUucm9ja3MvYXV0"
    "aG9yaXphdGlvbi1kZXRhaWwiLCJhY3Rpb25zIjpbInB1Ymxpc2giXSwidG9waWNzIjpbeyJtYXRjaCI6IioifV19LHsidHlwZSI6Imh0dHBz"
    "Oi8vbWVyY3VyZS5yb2Nrcy9hdXRob3JpemF0aW9uLWRldGFpbCIsImFjdGlvbnMiOlsic3Vic2NyaWJlIl0sInRvcGljcyI6W3sibWF0Y2gi"
    "OiIqIn1dfV0sImV4cCI6NDEwMjQ0NDgwMH0.z_S8IP5WZsCK8h3pcq0PB5zvJE0OdTrGA70khAYJQy4"
)
# What upstream's .env and hub configuration give the hub under test.
SUITE_ENV = {
    "HUBBUB_PUBLISHER_JWT_KEY": REFERENCE_KEY,
    "HUBBUB_TOKEN_AUDIENCE": "https://localhost/.well-known/mercure",
    "HUBBUB_TOKEN_ISSUER": "https://localhost",
}

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

R = [secrets.token_hex(20) for _ in range(5)]
# (name, update topics, subscription selectors, must be received, private)
CASES = [
    ("raw string", [R[0]], [R[0]], True, False),
    ("multiple topics", [secrets.token_hex(20), R[1]], [R[1]], True, False),
    ("multiple topic selectors", [R[2]], ["foo", R[2]], True, False),
    ("URI", [f"https://example.net/foo/{R[3]}"], [f"https://example.net/foo/{R[3]}"], True, False),
    ("URI template", [f"https://example.net/foo/{R[4]}"], ["https://example.net/foo/{random}"], True, False),
    ("nonmatching raw string", ["will-not-match}"], ["another-name"], False, False),
    (
        "nonmatching URI",
        ["https://example.net/foo/will-not-match}"],
        ["https://example.net/foo/another-name"],
        False,
        False,
    ),
    (
        "nonmatching URI template",
        ["https://example.net/foo/will-not-match}"],
        ["https://example.net/bar/{var}"],
        False,
        False,
    ),
    ("private raw string", [R[0]], [R[0]], False, True),
    ("private URI", [f"https://example.net/foo/{R[3]}"], [f"https://example.net/foo/{R[3]}"], False, True),
    ("private URI template", [f"https://example.net/foo/{R[4]}"], ["https://example.net/foo/{random}"], False, True),
]

H = [secrets.token_hex(20) for _ in range(6)]
CASES_1_0 = [
    ("raw string", [H[0]], [H[0]], True, False),
    ("multiple topic selectors", [H[2]], ["foo", H[2]], True, False),
    ("URI", [f"https://example.net/foo/{H[3]}"], [f"https://example.net/foo/{H[3]}"], True, False),
    ("URL pattern", [f"https://example.net/foo/{H[4]}"], ["https://example.net/foo/:random"], True, False),
    ("nonmatching raw string", ["will-not-match"], ["another-name"], False, False),
    (
        "nonmatching URI",
        ["https://example.net/foo/will-not-match"],
        ["https://example.net/foo/another-name"],
        False,
        False,
    ),
    (
        "nonmatching URL pattern",
        ["https://example.net/foo/will-not-match"],
        ["https://example.net/bar/:var"],
        False,
        False,
    ),
    ("private raw string", [H[0]], [H[0]], False, True),
    ("private URI", [f"https://example.net/foo/{H[3]}"], [f"https://example.net/foo/{H[3]}"], False, True),
    ("private URL pattern", [f"https://example.net/foo/{H[4]}"], ["https://example.net/foo/:random"], False, True),
]


def draft07_parameter(selector: str) -> str:
    return "topic"


def mercure_1_0_parameter(selector: str) -> str:
    """As HEAD's suite chooses: a selector with a ``:param`` placeholder is a URL Pattern."""
    return "match_urlpattern" if re.search(r"/:[A-Za-z_]", selector) else "match"


SUITES = {
    "draft-07 (bbf271c)": (CASES, draft07_parameter, SUITE_TOKEN),
    "Mercure 1.0 (HEAD)": (CASES_1_0, mercure_1_0_parameter, SUITE_TOKEN_1_0),
}

CHECK = """
async ({parameters, topics, id, data, isPrivate, token}) => {
  const url = new URL("/.well-known/mercure", window.origin);
  for (const [name, selector] of parameters) url.searchParams.append(name, selector);
  const source = new EventSource(url);
  await new Promise((resolve) => { source.onopen = resolve; });
  const arrived = new Promise((resolve) => {
    source.onmessage = (event) => {
      if (event.lastEventId === id && event.data === data) resolve(true);
    };
  });
  const form = new URLSearchParams();
  for (const topic of topics) form.append("topic", topic);
  form.set("id", id);
  form.set("data", data);
  if (isPrivate) form.set("private", "on");
  const response = await fetch("/.well-known/mercure", {
    method: "POST", headers: {Authorization: "Bearer " + token}, body: form,
  });
  const body = await response.text();
  const received = await Promise.race([arrived, new Promise((r) => setTimeout(r, 2000, false))]);
  source.close();
  return {received, status: response.status, contentType: response.headers.get("Content-Type"), body};
}
"""


@pytest.fixture(scope="module")
def reference_keyed_server(embedded_deployment):
    server = embedded_deployment.start(extra_env=SUITE_ENV)
    yield server
    server.stop()


@pytest.mark.parametrize("suite", list(SUITES))
def test_reference_conformance_suite(reference_keyed_server, suite):
    dataset, parameter, token = SUITES[suite]
    cases = [
        {
            "name": name,
            "parameters": [[parameter(selector), selector] for selector in selectors],
            "topics": topics,
            "id": f"id-{json.dumps(topics)}",
            "data": f"data for\n\n        {name}",
            "isPrivate": private,
            "token": token,
        }
        for name, topics, selectors, _, private in dataset
    ]
    with chromium() as browser:
        page = browser.new_page()
        page.goto(reference_keyed_server.url + "/admin/login/")
        # Four at a time: each case holds an EventSource and a fetch, and a browser opens at
        # most six HTTP/1.1 connections to one origin.
        results = []
        for start in range(0, len(cases), 4):
            batch = cases[start : start + 4]
            results += page.evaluate(f"(cases) => Promise.all(cases.map({CHECK.strip()}))", batch)
    assert {case["name"]: result["received"] for case, result in zip(cases, results, strict=True)} == {
        name: expected for name, _, _, expected, _ in dataset
    }
    for case, result, (_, _, _, must_be_received, _) in zip(cases, results, dataset, strict=True):
        if must_be_received:
            assert result["status"] == 200, (case["name"], result)
            assert re.match(r"^text/plain(?:$|;.*)", result["contentType"]), (case["name"], result)
            # CUSTOM_ID=1 in both suites' .env: the body is the id, and nothing else.
            assert result["body"] == case["id"], (case["name"], result)
