"""The HTML compliance report in a real headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium): no console error, no network request, working filters, search and sorting,
readable with JavaScript off, printable, and inert against hostile strings from the account."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Account, AuditResult, audit_at, demo_audit
from demo_table import DEMO_CRITICAL, DEMO_FAILING
from pypdf import PdfReader
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.print_page_options import PrintOptions
from selenium.webdriver.support.ui import Select

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1800",
)
#: Hostile strings seeded into the account: each must show as text, and none may run.
XSS = (
    "<script>window.__xss='script'</script>",
    "</script><script>window.__xss='close'</script>",
    '"><img src=x onerror="window.__xss=\'img\'">',
    "{{ 7*7 }}{% raw %}",
)


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[webdriver.Chrome]:
    """A fresh Chromium profile per test; ``javascript`` (indirect parameter) turns scripts off."""
    javascript = getattr(request, "param", True)
    profile = tempfile.mkdtemp(prefix="ams-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _seed_demo_and_audit(pytester: pytest.Pytester, aws: Account) -> AuditResult:
    import boto3

    from ams_iam_audit import demo

    demo.seed(boto3.Session(region_name="us-east-1"), aws.url)
    aws.like_the_demo()
    return audit_at(pytester, aws.url)


def _requests(driver: webdriver.Chrome, page: str) -> list[str]:
    """Every request the page made (network, or another local file), from Chromium's own log, except
    loading the page itself. Chromium's internal pages (``chrome://``, e.g. print preview) are not
    the page's requests."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    internal = ("chrome://", "chrome-untrusted://", "devtools://", "data:")  # data: never leaves the browser
    return [u for u in urls if u != page and not u.startswith(internal)]


def _visible_rows(driver: webdriver.Chrome) -> list[Any]:
    return [r for r in driver.find_elements(By.CSS_SELECTOR, "tr.finding") if r.is_displayed()]


def test_the_demo_report_in_chromium(
    pytester: pytest.Pytester, aws: Account, browser: webdriver.Chrome, request: pytest.FixtureRequest
) -> None:
    result = _seed_demo_and_audit(pytester, aws)
    page = (result.report_dir / "report.html").as_uri()
    browser.get(page)
    assert browser.title == "IAM compliance report: account 123456789012"
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert _requests(browser, page) == []

    rows = _visible_rows(browser)
    assert len(rows) == DEMO_FAILING
    Select(browser.find_element(By.ID, "f-severity")).select_by_visible_text("critical")
    assert {r.get_attribute("data-severity") for r in _visible_rows(browser)} == {"critical"}
    assert len(_visible_rows(browser)) == len(DEMO_CRITICAL)
    Select(browser.find_element(By.ID, "f-severity")).select_by_visible_text("all")
    Select(browser.find_element(By.ID, "f-rule")).select_by_visible_text("AMS-ROLE-001")
    assert len(_visible_rows(browser)) == 5
    assert browser.find_element(By.ID, "f-count").text == f"5 of {DEMO_FAILING} findings shown"
    Select(browser.find_element(By.ID, "f-rule")).select_by_visible_text("all")
    search = browser.find_element(By.ID, "f-text")
    search.send_keys("codebuild_role")
    texts = [r.text for r in _visible_rows(browser)]
    assert texts
    assert all("codebuild_role" in t for t in texts)
    search.clear()
    search.send_keys("x")  # input event with an empty result after clearing, then reset
    search.clear()
    browser.execute_script("document.getElementById('f-text').dispatchEvent(new Event('input'))")
    assert len(_visible_rows(browser)) == DEMO_FAILING

    table = browser.find_element(By.ID, "rules-table")
    failed_header = table.find_elements(By.TAG_NAME, "th")[4]
    failed_header.click()
    failed_header.click()  # descending
    first = table.find_element(By.CSS_SELECTOR, "tbody tr").find_elements(By.TAG_NAME, "td")
    assert (first[0].text, first[4].text) == ("AMS-PRIV-003", "10")

    # for people to look at: test-artifacts/ (git-ignored; CI can keep it)
    shot = request.config.rootpath / "test-artifacts" / "demo-report.png"
    shot.parent.mkdir(exist_ok=True)
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    pdf = base64.b64decode(browser.print_page())
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 5 <= pages <= 30  # printed: see test_the_demo_report_prints_in_at_most_twenty_pages
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert _requests(browser, page) == []


@pytest.mark.parametrize("browser", [False], indirect=True)
def test_everything_is_readable_with_javascript_off(
    pytester: pytest.Pytester, aws: Account, browser: webdriver.Chrome
) -> None:
    result = _seed_demo_and_audit(pytester, aws)
    browser.get((result.report_dir / "report.html").as_uri())
    assert len(_visible_rows(browser)) == DEMO_FAILING
    assert not browser.find_element(By.ID, "filters").is_displayed()  # the filters need JavaScript
    details = browser.find_elements(By.CSS_SELECTOR, "tr.finding details")
    assert details
    details[0].find_element(By.TAG_NAME, "summary").click()  # native <details>: no script needed
    assert details[0].find_element(By.TAG_NAME, "pre").is_displayed()


def test_hostile_strings_from_the_account_are_shown_not_run(
    pytester: pytest.Pytester, aws: Account, browser: webdriver.Chrome
) -> None:
    for i, text in enumerate(XSS):
        aws.iam.create_role(
            RoleName=f"lambda_role_xss{i}",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            Description=text,
            Tags=[{"Key": "owner", "Value": text}],
        )
        aws.iam.put_role_policy(
            RoleName=f"lambda_role_xss{i}",
            PolicyName="s3",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": f"X{i}",
                            "Effect": "Allow",
                            "Action": "s3:*",
                            "Resource": "*",
                            "Condition": {"StringEquals": {"aws:PrincipalTag/team": text}},
                        }
                    ],
                }
            ),
        )
    result = audit_at(pytester, aws.url)
    html_path = result.report_dir / "report.html"
    html = html_path.read_text()
    assert "<script>window.__xss" not in html
    assert "<img src=x" not in html
    browser.get(html_path.as_uri())
    assert browser.execute_script("return window.__xss === undefined")
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    for details in browser.find_elements(By.CSS_SELECTOR, "tr.finding details"):
        browser.execute_script("arguments[0].open = true", details)
    page_text = browser.find_element(By.TAG_NAME, "body").text
    for text in XSS:
        assert text in page_text or json.dumps(text)[1:-1] in page_text, text
    assert browser.execute_script("return window.__xss === undefined")
    markdown = (result.report_dir / "summary.md").read_text()
    assert "<script" not in markdown


#: Paper sizes the demo report must print on (cm): ISO A4 and US Letter.
PAPERS = {"A4": (21.0, 29.7), "Letter": (21.59, 27.94)}
#: The most pages the demo's printed report may take (71 Letter pages before issue 13).
PRINT_PAGES = 20


def _printed_pages(driver: webdriver.Chrome, paper: str) -> list[str]:
    """The loaded page printed by Chromium (DevTools Page.printToPDF) on ``paper``: each PDF page's text."""
    options = PrintOptions()
    options.page_width, options.page_height = PAPERS[paper]
    options.background = True
    pdf = base64.b64decode(driver.print_page(options))
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_the_demo_report_prints_in_at_most_twenty_pages(tmp_path: Path, browser: webdriver.Chrome) -> None:
    """The demo report, printed on A4 and Letter: at most 20 pages, every page headed with the
    account and date and footed with "page x of y", no page that holds only a heading or ends
    with one, and the signature block on the first page."""
    result = demo_audit(tmp_path)
    run = result.document["run"]  # type: ignore[index]
    page = (result.report_dir / "report.html").as_uri()
    browser.get(page)
    headings = [" ".join(e.text.split()) for e in browser.find_elements(By.CSS_SELECTOR, "h1, h2, h3")]
    assert "Executive summary" in headings
    header = re.compile(rf"IAM compliance report, account {run['account_id']}\s*audited {run['collected_at'][:10]}")
    for paper in PAPERS:
        pages = _printed_pages(browser, paper)
        assert len(pages) <= PRINT_PAGES, f"{paper}: {len(pages)} pages"
        for number, text in enumerate(pages, 1):
            assert header.search(text), (paper, number)
            footer = f"page {number} of {len(pages)}"
            assert footer in text, (paper, number)
            body = " ".join(
                header.sub(" ", text).replace(footer, " ").replace(f"ams-iam-audit {run['tool_version']}", " ").split()
            )
            rest = body
            for heading in sorted(headings, key=len, reverse=True):
                rest = rest.replace(heading, " ")
            assert len(rest.strip()) > 80, f"{paper} page {number} holds only a heading: {body!r}"
            # a heading, or the first words of one broken across pages, left at the foot of the page
            stranded = [
                h
                for h in headings
                for words in range(1, len(h.split()) + 1)
                if len(start := " ".join(h.split()[:words])) >= 12 and body.endswith(start)
            ]
            assert not stranded, f"{paper} page {number} ends with the heading {stranded}"
        first = " ".join(pages[0].split())
        for label in ("Prepared by", "Tool version", "Rule-set sha256", "Inventory sha256", "Reviewed by"):
            assert label in first, (paper, label)
        assert run["inventory_sha256"] in first.replace(" ", "")
        assert run["ruleset_sha256"] in first.replace(" ", "")
        assert "Executive summary" in first
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert _requests(browser, page) == []
