"""The cases of the Mercure reference hub's conformance suite, run the same way: in a browser,
an EventSource on the hub and a fetch() POST with the suite's token (signed with the reference
hub's default key), expecting the update to arrive, or not, within two seconds."""

from __future__ import annotations

import json
import secrets

import pytest

from tests.browser import chromium

REFERENCE_KEY = "!ChangeThisMercureHubJWTSecretKey!"
SUITE_TOKEN = (
    "eyJhbGciOiJIUzI1NiJ9.eyJtZXJjdXJlIjp7InB1Ymxpc2giOlsiKiJdLCJzdWJzY3JpYmUiOlsiKiJdfX0"
    ".bVXdlWXwfw9ySx7-iV5OpUSHo34RkjUdVzDLBcc6l_g"
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

R = [secrets.token_hex(20) for _ in range(5)]
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

CHECK = """
async ({selectors, topics, id, data, isPrivate, token}) => {
  const url = new URL("/.well-known/mercure", window.origin);
  for (const selector of selectors) url.searchParams.append("topic", selector);
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
    server = embedded_deployment.start(extra_env={"HUBBUB_PUBLISHER_JWT_KEY": REFERENCE_KEY})
    yield server
    server.stop()


def test_reference_conformance_cases(reference_keyed_server):
    cases = [
        {
            "name": name,
            "selectors": selectors,
            "topics": topics,
            "id": f"id-{json.dumps(topics)}",
            "data": f"data for\n\n        {name}",
            "isPrivate": private,
            "token": SUITE_TOKEN,
        }
        for name, topics, selectors, _, private in CASES
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
        name: expected for name, _, _, expected, _ in CASES
    }
    for case, result, (_, _, _, must_be_received, _) in zip(cases, results, CASES, strict=True):
        if must_be_received:
            assert result["status"] == 200, (case["name"], result)
            assert result["contentType"].startswith("text/plain"), (case["name"], result)
            assert result["body"].strip() == case["id"], (case["name"], result)
