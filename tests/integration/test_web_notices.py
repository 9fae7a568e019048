"""The web page has an icon, and warns when the chosen collection's model has random weights."""

from __future__ import annotations

from typing import Any

import requests

from mmsearch.infra.testing.platform import Platform
from tests.fixtures.platform import new_collection
from tests.integration.test_web_ui import browser, pytestmark, wait_for  # noqa: F401

ICON = "/static/ui/favicon.svg"


def test_the_page_links_an_icon_the_app_serves(platform: Platform) -> None:
    page = requests.get(f"{platform.base}/", timeout=10).text
    assert f'<link rel="icon" href="{ICON}" type="image/svg+xml">' in page
    icon = requests.get(f"{platform.base}{ICON}", timeout=10)
    assert icon.status_code == 200 and icon.headers["Content-Type"].startswith("image/svg+xml")
    assert icon.text.lstrip().startswith("<svg")


def test_random_weights_are_announced_on_the_page(
    platform: Platform,
    browser: Any,  # noqa: F811 - the fixture imported above
    tiny_model: str,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    name = new_collection(platform, "noticed", tiny_model)
    assert platform.expect(200, "GET", f"/v1/collections/{name}")["random_weights"] is True
    browser.get(f"{platform.base}/")
    options = "#collection option"
    wait_for(
        browser,
        lambda d: (
            name in [o.get_attribute("value") for o in d.find_elements(By.CSS_SELECTOR, options)]
        ),
    )
    Select(browser.find_element(By.ID, "collection")).select_by_value(name)
    notice = browser.find_element(By.ID, "random-weights")
    wait_for(browser, lambda d: notice.is_displayed())
    assert "random weights" in notice.text and "meaningless" in notice.text
    assert tiny_model in notice.text
