"""`ogfr serve` end to end in a real headless Chromium (Debian's package) driven by Playwright's client.

Skips, saying why, only when Playwright's client or a Chromium binary is missing; `.ci/run` installs both.
"""

from __future__ import annotations

import os
import shutil

import pytest
from PIL import Image
from serve_helpers import get_json, service_for, serving

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python client is not installed")
expect = sync_api.expect
expect.set_options(
    timeout=30_000
)  # the shared 2-core machine can be slow; waits end as soon as the page is ready

CHROMIUM = os.environ.get("OGFR_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    pytest.skip(
        "no Chromium binary (apt-get install chromium, as .ci/run does, or set OGFR_CHROMIUM)",
        allow_module_level=True,
    )
FLAGS = [  # headless as root on a machine without network: no sandbox, GPU or background connections
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUERY = "0002_c3s1_000100_00.jpg"
MAX_UPLOAD = 20_000


@pytest.fixture(scope="module")
def site(checkpoint, built):
    service = service_for(checkpoint, built[1])
    with serving(service, max_upload=MAX_UPLOAD) as url:
        yield url, service


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda err: errors.append(str(err)))
    pg.goto(site[0] + "/")
    expect(pg.locator("#gallery .tile")).to_have_count(13)
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def tile_of(page, path: str):
    return page.locator("#gallery .tile", has_text=path)


def result_rows(page) -> list[int]:
    return [int(r) for r in page.locator("#results .tile").evaluate_all("els => els.map(e => e.dataset.row)")]


def test_pick_a_gallery_image_filter_page_and_open_a_result(page, site, tmp_path):
    url, service = site
    tile_of(page, QUERY).click()
    expect(page.locator("#query-label")).to_have_text(f"indexed image: {QUERY} (id 2)")
    expect(page.locator("#results .tile")).to_have_count(10)
    row = next(i for i, r in enumerate(service.records) if r.path == QUERY)
    expected = get_json(f"{url}/api/search?query=g{row}&per_page=50")["hits"]
    assert result_rows(page) == [h["row"] for h in expected[:10]]
    first = page.locator("#results .tile").first
    d = f"{expected[0]['distance']:.3g}"
    expect(first).to_contain_text("#1 · d = ")
    assert float(first.inner_text().split("d = ")[1].split()[0]) == pytest.approx(float(d), rel=1e-2)
    expect(first).to_contain_text(f"shared {len(expected[0]['shared_parts'])}/8")
    expect(first).to_have_class("tile same-id")  # identity 2 from another camera ranks first
    # The query's code z, its eq. 24 flags, part map and erasing mask.
    expect(page.locator("#code")).to_have_text("0000")
    expect(page.locator("#coarse .chip.good")).to_have_count(4)
    expect(page.locator("#visibility .chip")).to_have_count(8)
    for img in ("#query-image", "#query-part-map", "#query-erasing"):
        page.wait_for_function(f"document.querySelector('{img}').naturalWidth > 0")
    expect(page.locator("#erasing-note")).to_contain_text("keeps")
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert Image.open(tmp_path / "page.png").size[0] == 1280
    # Paging: 12 results (the query itself is left out), 10 per page.
    page.click("#results-next")
    expect(page.locator("#results-status")).to_contain_text("ranks 11-12 of 12")
    assert result_rows(page) == [h["row"] for h in expected[10:12]]
    expect(page.locator("#results-next")).to_be_disabled()
    page.click("#results-prev")
    expect(page.locator("#results-status")).to_contain_text("ranks 1-10 of 12")
    # Camera filter: only c1 (camera 0) results, and only c1 gallery images.
    page.select_option("#camera", "0")
    expect(page.locator("#results-status")).to_contain_text("of 4")
    assert result_rows(page) == [h["row"] for h in expected if h["camid"] == 0]
    expect(page.locator("#gallery .tile")).to_have_count(4)
    page.select_option("#camera", "all")
    expect(page.locator("#gallery .tile")).to_have_count(13)
    # A result's own matches: clicking it makes it the query.
    second = service.records[expected[1]["row"]].path
    page.locator("#results .tile").nth(1).click()
    expect(page.locator("#query-label")).to_contain_text(f"indexed image: {second}")
    expect(page.locator("#results .tile")).to_have_count(10)
    assert expected[1]["row"] not in result_rows(page) and row in result_rows(page)
    # A reload keeps the query (it is in the address) while the server holds it.
    page.reload()
    expect(page.locator("#query-label")).to_contain_text(second)


def test_uploads_errors_and_addresses(page, site, built, tmp_path):
    gallery = built[0]
    row = next(i for i, r in enumerate(site[1].records) if r.path == QUERY)
    page.set_input_files("#upload", str(gallery / QUERY))
    expect(page.locator("#query-label")).to_have_text(f"uploaded: {QUERY} (id 2)")
    expect(page.locator("#results .tile").first).to_contain_text("#1 · d = 0")  # the same image
    expect(page.locator("#error")).to_be_hidden()
    page.set_input_files("#upload", str(gallery / "notes.txt"))
    expect(page.locator("#error")).to_have_text("notes.txt: not an image Pillow can read")
    big = tmp_path / "big.png"
    Image.effect_noise((200, 200), 64).convert("RGB").save(big)
    assert big.stat().st_size > MAX_UPLOAD
    page.set_input_files("#upload", str(big))
    expect(page.locator("#error")).to_have_text("the upload is larger than the limit of 20,000 bytes")
    last_good = f"uploaded: {QUERY} (id 2)"
    expect(page.locator("#query-label")).to_have_text(last_good)
    page.goto(page.url.split("#")[0] + "#query=u0000")  # a query the server does not hold
    expect(page.locator("#error")).to_contain_text("is not (or no longer) held by the server")
    page.goto(page.url.split("#")[0] + f"#query=g{row}&page=1")  # a gallery query is made again from its row
    expect(page.locator("#query-label")).to_have_text(f"indexed image: {QUERY} (id 2)")
    expect(page.locator("#results-status")).to_contain_text("ranks 11-12 of 12")
    expect(page.locator("#error")).to_be_hidden()


def test_progress_indicator_while_searching(page):
    held = []
    page.route("**/api/search?*", lambda route: held.append(route))
    tile_of(page, QUERY).click()
    while not held:
        page.wait_for_timeout(20)
    expect(page.locator("#busy")).to_be_visible()
    expect(page.locator("#busy")).to_contain_text("searching")
    expect(page.locator("#results")).to_have_attribute("aria-busy", "true")
    held[0].continue_()
    expect(page.locator("#results .tile")).to_have_count(10)
    expect(page.locator("#busy")).to_be_hidden()
