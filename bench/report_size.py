"""The HTML report at 10,000 findings: its size and how long headless Chromium takes to load it.

    python bench/report_size.py

Prints the render time, the size, and three loads (Selenium's get(), DOMContentLoaded, load) in
Debian's chromium. The size budget (under 5 MB) is asserted in tests/test_reports.py; times are
measured here, never asserted.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_reports import _document, synthetic_findings

from ams_iam_audit.report.render import render_html


def main() -> None:
    out = Path(tempfile.mkdtemp()) / "report.html"
    started = time.perf_counter()
    html = render_html(_document(synthetic_findings(10_000)))
    rendered = time.perf_counter() - started
    out.write_text(html)
    print(f"render {rendered:.2f} s, size {len(html.encode()) / 1e6:.2f} MB")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tempfile.mkdtemp()}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        for _ in range(3):
            started = time.perf_counter()
            driver.get(out.as_uri())
            got = time.perf_counter() - started
            ready, loaded = driver.execute_script(
                "const n = performance.getEntriesByType('navigation')[0];"
                "return [n.domContentLoadedEventEnd, n.loadEventEnd]"
            )
            print(f"get() {got:.2f} s, DOMContentLoaded {ready / 1000:.2f} s, load {loaded / 1000:.2f} s")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
