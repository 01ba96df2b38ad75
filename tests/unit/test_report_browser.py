"""report.html in a real headless browser (Debian's Chromium through Selenium): no console
errors, one table row per head, sorting by a header click, each head's explanation and surrogate
with their glosses beside its front plot, every image decoded."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_report import HEADS, make_run

from headcode.eval.report import build_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def browser(tmp_path):
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            pytest.skip(f"needs {path} (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the dev extra)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def _column(driver, k: int) -> list[str]:
    return [row.find_elements("tag name", "td")[k].text
            for row in driver.find_elements("css selector", "table#heads tbody tr")]


def _heads(driver) -> list[str]:
    return _column(driver, 0)


def test_report_page_in_chromium(tmp_path, browser):
    page = build_report(make_run(tmp_path))
    browser.get(page.as_uri())
    assert browser.title.startswith("headcode report: tiny <model> & co")
    assert _heads(browser) == ["0.1", "0.0", "1.2", "1.3"]  # held-out IoU, best first
    headers = browser.find_elements("css selector", "table#heads thead th")
    assert [h.text for h in headers] == ["head", "explanation IoU", "explanation size",
                                         "surrogate IoU", "surrogate size", "synthesis IoU",
                                         "explanation"]
    headers[0].click()
    assert _heads(browser) == sorted(HEADS, key=lambda h: tuple(map(int, h.split("."))))
    assert headers[0].get_attribute("aria-sort") == "ascending"
    headers[0].click()
    assert _heads(browser) == ["1.3", "1.2", "0.1", "0.0"]
    headers[1].click()
    assert _column(browser, 1) == ["0.120", "0.433", "0.812", "0.905"]
    headers[2].click()
    assert _column(browser, 2) == ["1", "2", "5", "9"]
    headers[3].click()
    assert _column(browser, 3) == ["0.302", "0.455", "0.835", "0.905"]
    headers[4].click()
    assert _column(browser, 4) == ["2", "5", "6", "11"]
    headers[5].click()  # the head without a synthesis IoU stays last
    assert _column(browser, 5) == ["0.450", "0.820", "0.910", "—"]
    headers[6].click()
    assert _column(browser, 6)[0] == "ends" and _column(browser, 6)[-1] == "prev(1)"

    # a program link opens its head's details
    details = browser.find_element("id", "head-1-3")
    assert details.get_attribute("open") is None
    browser.find_element("css selector", 'a[href="#head-1-3"]').click()
    from selenium.webdriver.support.wait import WebDriverWait  # the fixture checked selenium

    WebDriverWait(browser, 10).until(lambda _: details.get_attribute("open") is not None)
    assert 'k.text == " <cat>"' in details.text
    # the explanation and the surrogate side by side, each with its gloss, above the front plot
    explanation = details.find_element("css selector", "div.explanation")
    surrogate = details.find_element("css selector", "div.surrogate")
    assert 'head 1.3 = keys(k.text == " <cat>" or k.text == " &") ?? first' in explanation.text
    assert "; if there is none, the first token" in explanation.text
    assert 'head 1.3 = keys(k.text == " <cat>" or k.text == " &") ?? prev(1)' in surrogate.text
    assert "; if there is none, the previous token" in surrogate.text
    left, right = explanation.rect, surrogate.rect
    assert right["x"] > left["x"] + left["width"] - 1 and right["y"] == left["y"]
    front = details.find_element("css selector", 'img[alt="head 1.3: held-out IoU against size"]')
    assert front.is_displayed() and front.rect["y"] > left["y"] + left["height"] - 1

    loaded = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth]);")
    assert len(loaded) == 9
    assert all(complete and width > 0 for complete, width in loaded), loaded
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
