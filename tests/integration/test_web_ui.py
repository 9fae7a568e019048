"""The web page in a real headless Chromium against the real platform: a text search, a filter,
an image query and the jobs view; the thumbnails must actually render. A screenshot is kept in
test-artifacts/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.platform import new_collection
from tests.fixtures.s3 import upload_bucket

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMEDRIVER is None, reason="chromium-driver not installed (infra/setup.sh --dev installs it)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def collection(platform: Platform, s3_client: Any, tiny_model: str) -> tuple[str, str]:
    photos = generated_photos(8)
    bucket = upload_bucket(s3_client, photos, label="ui")
    name = new_collection(platform, "ui", tiny_model)
    items = [
        {
            "uri": f"s3://{bucket}/{p.name}",
            "id": p.name,
            "metadata": {"parity": ["even", "odd"][i % 2]},
            "text": p.caption,
        }
        for i, p in enumerate(photos)
    ]
    job_id = platform.ingest(name, {"items": items})
    assert platform.wait_job(job_id)["status"] == "succeeded"
    return name, job_id


def wait_for(driver: Any, condition: Any, timeout: float = 30) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def shown_ids(driver: Any, count: int) -> list[str]:
    """The result cards' ids once `count` cards show a decoded thumbnail each."""
    script = """
      const cards = [...document.querySelectorAll('#results .card')];
      const ready = cards.length && cards.every(c => c.querySelector('img').naturalWidth > 0);
      return ready ? cards.map(c => c.dataset.id) : null;"""
    ids = wait_for(driver, lambda d: d.execute_script(script))
    assert len(ids) == count
    return list(ids)


def search_from_the_page(driver: Any, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "query")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "go").click()


def test_search_page_shows_the_api_ranking_with_thumbnails(
    platform: Platform, browser: Any, collection: tuple[str, str], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    name, job_id = collection
    browser.get(f"{platform.base}/")
    wait_for(
        browser,
        lambda d: (
            name
            in [
                o.get_attribute("value")
                for o in d.find_elements(By.CSS_SELECTOR, "#collection option")
            ]
        ),
    )
    Select(browser.find_element(By.ID, "collection")).select_by_value(name)
    limit = browser.find_element(By.ID, "limit")
    limit.clear()
    limit.send_keys("8")

    search_from_the_page(browser, "colourful shapes")
    want = platform.search(name, {"text": "colourful shapes", "limit": 8})["results"]
    assert shown_ids(browser, 8) == [hit["id"] for hit in want]
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "ui-search.png"))

    browser.find_element(By.ID, "add-filter").click()
    browser.find_element(By.CSS_SELECTOR, ".filter-key").send_keys("parity")
    browser.find_element(By.CSS_SELECTOR, ".filter-value").send_keys("odd")
    search_from_the_page(browser, "colourful shapes")
    odd = [hit["id"] for hit in want if int(hit["id"][4:8]) % 2 == 1]
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results .card")) == 4)
    assert shown_ids(browser, 4) == odd

    browser.find_element(By.CSS_SELECTOR, ".filter-row button").click()  # drop the filter
    mode = Select(browser.find_element(By.ID, "mode"))
    mode.select_by_value("keyword")
    search_from_the_page(browser, "number 3")  # "number" is in every caption, "3" in one
    words = platform.search(name, {"text": "number 3", "mode": "keyword", "limit": 8})["results"]
    assert words[0]["id"] == "gen_0003.jpg"
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results .card")) == 8)
    assert shown_ids(browser, 8) == [hit["id"] for hit in words]
    mode.select_by_value("image")

    picture = tmp_path / "query.jpg"
    picture.write_bytes(generated_photos(8)[5].data)
    browser.find_element(By.ID, "query").clear()
    browser.find_element(By.ID, "image").send_keys(str(picture))
    browser.find_element(By.ID, "go").click()
    wait_for(
        browser,
        lambda d: d.execute_script(
            "const c = document.querySelector('#results .card');"
            "return c && c.dataset.id === 'gen_0005.jpg'"
        ),
    )

    browser.get(f"{platform.base}/#jobs")
    listed = "return [...document.querySelectorAll('tr.job')].map(r => r.dataset.id)"
    wait_for(browser, lambda d: job_id in d.execute_script(listed))  # rows redrawn each second
    browser.save_screenshot(str(ARTIFACTS / "ui-jobs.png"))


def test_videos_show_their_best_moments_and_play_from_one(
    platform: Platform, browser: Any, s3_client: Any, tiny_model: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from mmsearch.infra.testing.photos import decode
    from mmsearch.infra.testing.videos import scenes_video

    pictures = [decode(p.data) for p in generated_photos(3)]
    bucket = upload_bucket(s3_client, [], label="ui-video")
    s3_client.put_object(
        Bucket=bucket, Key="walk.webm", Body=scenes_video(pictures, seconds=2.0, kind="webm")
    )
    name = new_collection(platform, "ui-video", tiny_model)
    job = platform.wait_job(
        platform.ingest(name, {"items": [{"uri": f"s3://{bucket}/walk.webm", "id": "walk"}]})
    )
    assert job["frames"] == 3
    want = platform.search(
        name, {"text": "a walk", "limit": 24, "group_by": "video", "group_size": 4}
    )["groups"]
    browser.get(f"{platform.base}/")
    wait_for(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#collection option[value='{name}']")
    )
    Select(browser.find_element(By.ID, "collection")).select_by_value(name)
    browser.find_element(By.ID, "by-video").click()
    search_from_the_page(browser, "a walk")
    script = """
      const row = document.querySelector('#results .video-group');
      const cards = row ? [...row.querySelectorAll('.card')] : [];
      const ready = cards.length && cards.every(c => c.querySelector('img').naturalWidth > 0);
      const times = cards.map(c => c.querySelector('.moment').dataset.t);
      return ready ? [row.dataset.id, times] : null;"""
    key, times = wait_for(browser, lambda d: d.execute_script(script))
    assert key == "walk" and [float(t) for t in times] == [
        hit["video"]["t"] for hit in want[0]["results"]
    ]
    moment = float(times[0])
    browser.find_element(By.CSS_SELECTOR, "#results .moment").click()
    playing = wait_for(
        browser,
        lambda d: d.execute_script(
            "const v = document.getElementById('video');"
            "return v.readyState >= 1 && !document.getElementById('player').hidden"
            " ? v.currentTime : null"
        ),
    )
    assert abs(playing - moment) < 1.0
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "ui-video.png"))


def test_the_sources_tab_shows_each_source_with_its_last_sync(
    platform: Platform, browser: Any, s3_client: Any, tiny_model: str
) -> None:
    from selenium.webdriver.common.by import By

    bucket = upload_bucket(s3_client, generated_photos(3), prefix="lib/", label="ui-sources")
    name = new_collection(platform, "ui-sources", tiny_model)
    base = f"/v1/collections/{name}/sources"
    source_id = platform.expect(201, "POST", base, json={"uri": f"s3://{bucket}/lib/"})["source_id"]
    first = platform.expect(202, "POST", f"{base}/{source_id}/sync", json={})["job_id"]
    assert platform.wait_job(first)["added"] == 3
    browser.get(f"{platform.base}/#sources")
    script = f"""
      const row = document.querySelector('#sources tr.source[data-id="{source_id}"]');
      return row ? [...row.querySelectorAll('td')].map(c => c.textContent) : null;"""
    cells = wait_for(browser, lambda d: d.execute_script(script))
    assert cells[:2] == [name, f"s3://{bucket}/lib/"]
    assert "succeeded" in cells[3] and cells[4:9] == ["3", "0", "0", "0", "0"]
    row = browser.find_element(By.CSS_SELECTOR, f'#sources tr.source[data-id="{source_id}"]')
    row.find_element(By.CSS_SELECTOR, "button.sync-now").click()
    path = f"{base}/{source_id}"
    second = wait_for(
        browser,
        lambda _: (platform.expect(200, "GET", path)["last_sync"] or {}).get("job_id") != first,
    )
    assert second
    job = platform.wait_job(platform.expect(200, "GET", path)["last_sync"]["job_id"])
    assert (job["added"], job["unchanged"]) == (0, 3)
    unchanged = wait_for(browser, lambda d: (d.execute_script(script) or [""] * 9)[7] == "3")
    assert unchanged
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "ui-sources.png"))
    platform.expect(200, "DELETE", path)
