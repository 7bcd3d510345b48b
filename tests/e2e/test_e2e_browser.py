"""End to end in a real Chromium (Debian's /usr/bin/chromium through Playwright; never `playwright install`).

A `glomcheck serve` subprocess (API + embedded worker, SQLite under a temp var dir) serves the built
front end. The pathologist logs in, opens a case, uploads a copy of CMU-1-Small-Region.svs with tus,
sees it in the viewer, starts the analysis and watches its live progress. A wrong file type is refused
in plain words. Screenshots of every page, in English and Japanese, go to test-artifacts/screenshots/.

Needs `cd frontend && npm ci && npm run build` first; fails (never skips) without Chromium or a build.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "frontend" / "dist"
SHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("GLOMCHECK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
from tests.conftest import SHARED_DATA  # noqa: E402 - one lookup for every test
SLIDE = SHARED_DATA / "slides" / "CMU-1-Small-Region.svs"
EMAIL, PASSWORD = "path1@e2e.example", "correct-horse-e2e-1"
ADMIN_EMAIL = "admin@e2e.example"
# The analysis can only succeed where the trained models (ONNX + card) are present in the checkout.
MODELS_PRESENT = all((REPO / "models" / m / "card.json").is_file() for m in ("glom_detector", "glom_classifier"))
ANALYSIS_TIMEOUT_S = float(os.environ.get("GLOMCHECK_E2E_ANALYSIS_TIMEOUT", "300"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _glomcheck_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "glomcheck"
    return [str(exe)] if exe.exists() else [shutil.which("glomcheck") or "glomcheck"]


def _glomcheck(*args: str, env: dict[str, str]) -> None:
    subprocess.run([*_glomcheck_cmd(), *args], cwd=REPO, env=env, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium (never `playwright install`).",
                    pytrace=False)
    if not (DIST / "index.html").is_file():
        pytest.fail(f"No front-end build in {DIST}: run `cd frontend && npm ci && npm run build`.", pytrace=False)
    if not SLIDE.is_file():
        pytest.fail(f"Sample slide missing: {SLIDE}", pytrace=False)
    var = tmp_path_factory.mktemp("e2e-var")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLOMCHECK_")}
    env.update({"GLOMCHECK_VAR_DIR": str(var), "GLOMCHECK_ENVIRONMENT": "development", "PYTHONUNBUFFERED": "1"})
    _glomcheck("db", "upgrade", env=env)
    _glomcheck("create-user", "--email", EMAIL, "--password", PASSWORD, "--institution", "E2E", "--name", "Dr. E2E", env=env)
    _glomcheck("create-user", "--email", ADMIN_EMAIL, "--password", PASSWORD, "--institution", "E2E", "--role", "admin",
               "--name", "E2E Admin", env=env)
    port = _free_port()
    log = (var / "serve.log").open("wb")
    proc = subprocess.Popen([*_glomcheck_cmd(), "serve", "--port", str(port)], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"glomcheck serve did not start:\n{(var / 'serve.log').read_text()[-3000:]}", pytrace=False)
            time.sleep(0.3)
        yield base, var
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            except ProcessLookupError:
                pass
        log.close()


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def plant_glomeruli(var: Path, slide_id: int, n: int = 40) -> None:
    """Store a succeeded analysis with synthetic glomeruli for the slide, straight into the server's database.

    The trained models are not part of every checkout; this lets the viewer's overlay, card, keyboard
    navigation and gallery be exercised against the real API either way. Test-only data.
    """
    import random

    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from app.db.models import AnalysisJob, Glomerulus, Slide

    rnd = random.Random(5)
    engine = create_engine(f"sqlite:///{var / 'glomcheck.db'}")
    statuses = ["normal", "normal", "abnormal", "abnormal", "indeterminate", "not_assessable"]
    findings = ["global_sclerosis", "segmental_sclerosis", "cellular_crescent", "mesangial_hypercellularity"]
    with Session(engine) as s, s.begin():
        slide = s.execute(select(Slide).where(Slide.id == slide_id)).scalar_one()
        job = AnalysisJob(slide_id=slide.id, institution_id=slide.institution_id, state="succeeded", stage="done", progress=1.0,
                          model_versions={"glom_detector": "e2e-planted"}, timings_s={}, result={}, attempts=1)
        s.add(job)
        s.flush()
        for i in range(n):
            cx, cy, r = rnd.uniform(150, slide.width - 150), rnd.uniform(150, slide.height - 150), rnd.uniform(40, 90)
            poly = [[cx + r * math.cos(a / 16 * 2 * math.pi) * rnd.uniform(0.85, 1.1),
                     cy + r * math.sin(a / 16 * 2 * math.pi) * rnd.uniform(0.85, 1.1)] for a in range(16)]
            xs, ys = [p[0] for p in poly], [p[1] for p in poly]
            status = statuses[i % len(statuses)]
            probs = {f: round(rnd.uniform(0, 0.3), 2) for f in findings}
            if status == "abnormal":
                probs[findings[i % len(findings)]] = 0.91
            s.add(Glomerulus(job_id=job.id, slide_id=slide.id, index=i, polygon=poly, bbox_x0=int(min(xs)), bbox_y0=int(min(ys)),
                             bbox_x1=int(max(xs)) + 1, bbox_y1=int(max(ys)) + 1, area_um2=3.14 * r * r * 0.25,
                             detection_score=round(rnd.uniform(0.6, 0.99), 2), findings=probs, status=status,
                             flags=["edge_cut"] if status == "not_assessable" else []))
    engine.dispose()


def test_pathologist_uploads_views_and_analyses(served: tuple[str, Path], browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    server, var = served

    # A de-identified copy with a name that says its stain.
    slide = tmp_path / "E2E-biopsy_PAS.svs"
    shutil.copyfile(SLIDE, slide)
    wrong = tmp_path / "referral-letter.pdf"
    wrong.write_bytes(b"%PDF-1.4 not a slide")

    ctx = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="en-GB")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # Login: a wrong password is refused plainly and the e-mail stays typed.
    page.goto(f"{server}/")
    expect(page).to_have_url(f"{server}/login?next=%2F")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong e-mail or password")
    expect(page.get_by_label("E-mail")).to_have_value(EMAIL)
    shot(page, "en-01-login")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    shot(page, "en-02-worklist-empty")

    # Upload drawer: new case, a refused file, then the slide with its stain.
    page.get_by_role("button", name="Upload", exact=True).first.click()
    drawer = page.get_by_test_id("upload-drawer")
    expect(drawer).to_be_visible()
    drawer.get_by_test_id("new-case").click()
    expect(drawer.get_by_test_id("drop-zone")).to_contain_text("Drop slides for case")
    drawer.get_by_test_id("file-input").set_input_files([str(wrong), str(slide)])
    bad = drawer.locator('[data-testid="upload-row"][data-phase="invalid"]')
    expect(bad).to_contain_text("not a slide file")
    row = drawer.locator('[data-testid="upload-row"]', has_text="E2E-biopsy_PAS.svs")
    expect(row.get_by_label("Stain")).to_have_value("pas")
    row.get_by_role("button", name="Upload", exact=True).click()
    expect(row).to_have_attribute("data-phase", "done", timeout=120_000)
    expect(row).to_contain_text("Done")
    shot(page, "en-03-upload-drawer")

    # A dropped connection mid-upload: the first PATCH is cut off; tus asks the server for the offset and resumes.
    second = tmp_path / "E2E-biopsy_PAM.svs"
    second.write_bytes(SLIDE.read_bytes() + b"\0" * 64)  # same image, different bytes (not a duplicate)
    cut = {"n": 0}

    def drop_first_patch(route):  # type: ignore[no-untyped-def]
        if route.request.method == "PATCH" and cut["n"] == 0:
            cut["n"] += 1
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/uploads/**", drop_first_patch)
    drawer.get_by_test_id("file-input").set_input_files([str(second)])
    row2 = drawer.locator('[data-testid="upload-row"]', has_text="E2E-biopsy_PAM.svs")
    expect(row2.get_by_label("Stain")).to_have_value("pam")
    row2.get_by_role("button", name="Upload", exact=True).click()
    expect(row2).to_have_attribute("data-phase", "done", timeout=120_000)
    assert cut["n"] == 1, "the connection drop was not exercised"
    page.unroute("**/api/uploads/**")
    row.get_by_role("link", name="Open").click()

    # Case page: the slide in the viewer with scale bar and magnification.
    expect(page.get_by_test_id("osd-host").locator("canvas").first).to_be_visible()
    page.wait_for_function("() => window.__glomOverlay && window.__glomOverlay.viewer && window.__glomOverlay.viewer.world.getItemCount() === 1")
    page.wait_for_function("() => window.__glomOverlay.viewer.world.getItemAt(0).getFullyLoaded()", timeout=30_000)
    expect(page.locator(".scale-bar-label")).to_contain_text("m")
    expect(page.locator(".hud-mag")).to_contain_text("×")
    shot(page, "en-04-case-viewer")

    # Analysis with live progress (SSE): the header shows the stage and percent, then the outcome.
    page.get_by_test_id("analyse-button").click()
    status = page.get_by_test_id("analysis-status")
    expect(status).to_have_attribute("data-state", re.compile("queued|running|succeeded|failed"), timeout=30_000)
    seen: set[str] = set()
    deadline = time.monotonic() + ANALYSIS_TIMEOUT_S
    shot_taken = False
    while time.monotonic() < deadline:
        state = status.get_attribute("data-state") or ""
        seen.add(state)
        if state == "running" and not shot_taken:
            page.wait_for_timeout(300)
            shot(page, "en-05-analysis-progress")
            shot_taken = True
        if state in ("succeeded", "failed", "cancelled"):
            break
        page.wait_for_timeout(250)
    final = status.get_attribute("data-state")
    assert seen & {"queued", "running"}, f"no live progress was shown: {seen}"
    if MODELS_PRESENT:
        assert final == "succeeded", f"analysis ended {final!r} after states {seen}; header: {status.inner_text()}"
    else:
        # Without the model files the worker fails the job; the UI must say so, with the reason, not hang.
        assert final == "failed", f"analysis ended {final!r} after states {seen}"
        expect(status).to_contain_text("Analysis failed")
        expect(status.locator(".job-error")).to_contain_text("model")
    shot(page, "en-06-analysis-done")

    # The AI tab (AI results are visible or, under the blinded first read, announced as such).
    page.get_by_role("tab", name="AI").click()
    ai = page.locator(".tab-body")
    expect(ai).to_contain_text(re.compile("Glomeruli detected|Available after you sign|not been analysed"))
    shot(page, "en-07-ai-tab")
    if page.get_by_test_id("legend").count():
        page.keyboard.press("n")
        expect(page.get_by_test_id("glom-card")).to_be_visible()
        shot(page, "en-07-glomerulus-card")
        page.keyboard.press("f")
    # The structured report: typed values survive until signed; signing opens the comparison.
    page.get_by_role("tab", name="Report").click()
    form = page.get_by_test_id("report-form")
    form.get_by_label("Glomeruli counted").fill("12")
    form.get_by_label("Globally sclerosed").fill("2")
    form.get_by_label("Cellular crescents", exact=True).fill("0")
    form.get_by_label("M (mesangial)").select_option("1")
    form.get_by_label("Comment").fill("E2E report")
    shot(page, "en-08-report-form")
    # An expired session mid-report: a clear dialog, sign in again in place, nothing typed is lost.
    ctx.clear_cookies()
    form.get_by_role("button", name="Save draft").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Your session has expired")
    shot(page, "en-08b-session-expired")
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name="Sign in and continue").click()
    expect(dialog).to_have_count(0)
    expect(form.get_by_label("Glomeruli counted")).to_have_value("12")
    expect(form.get_by_label("Comment")).to_have_value("E2E report")
    form.get_by_role("button", name="Save draft").click()
    expect(form).to_contain_text("Draft saved.")
    form.get_by_test_id("sign").click()
    form.get_by_test_id("confirm-sign").click()
    expect(page.get_by_role("tab", name="Comparison")).to_have_attribute("aria-selected", "true")
    expect(page.locator(".tab-body")).to_contain_text(re.compile("No comparison yet|Pathologist"))
    shot(page, "en-09-comparison")
    page.get_by_role("tab", name="Report").click()
    expect(page.get_by_test_id("report-form")).to_contain_text("Signed (version 1)")
    expect(page.get_by_label("Glomeruli counted")).to_have_value("12")
    # The overlay on the real API: planted glomeruli (see plant_glomeruli), visible now that the report is signed.
    slide_id = int(re.search(r"slide=(\d+)", page.url).group(1)) if "slide=" in page.url else 1
    plant_glomeruli(var, slide_id)
    page.goto(page.url.split("?")[0] + f"?slide={slide_id}&tab=ai")
    expect(page.get_by_test_id("legend")).to_be_visible()
    expect(page.get_by_test_id("legend")).to_contain_text("Indeterminate")
    page.wait_for_function("() => window.__glomOverlay && window.__glomOverlay.drawn > 0")
    page.keyboard.press("n")
    card = page.get_by_test_id("glom-card")
    expect(card).to_contain_text("Glomerulus 1 of")
    expect(card.locator(".glom-crop img")).to_be_visible(timeout=15_000)
    page.keyboard.press("n")
    expect(card).to_contain_text("Glomerulus 2 of")
    page.keyboard.press("p")
    expect(card).to_contain_text("Glomerulus 1 of")
    page.wait_for_timeout(1200)
    shot(page, "en-09b-overlay-card")
    page.get_by_label("Filter by finding").select_option("status:indeterminate")
    expect(page.get_by_test_id("gallery")).to_contain_text("shown")
    page.keyboard.press("f")
    expect(page.get_by_test_id("legend").get_by_role("checkbox").first).not_to_be_checked()
    page.keyboard.press("f")
    page.keyboard.press("Escape")
    page.wait_for_timeout(800)
    shot(page, "en-09c-overlay-gallery")

    for tab in ("Clinical", "History"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(200)
        shot(page, f"en-10-tab-{tab.lower()}")
    case_url = page.url

    # Second reads and admin pages render without errors.
    page.get_by_role("link", name="Second reads").click()
    expect(page.get_by_role("heading", name="Second-read queue")).to_be_visible()
    shot(page, "en-11-second-reads")
    page.get_by_role("link", name="Worklist").click()
    expect(page.get_by_test_id("worklist")).to_contain_text("PAS")
    shot(page, "en-12-worklist")

    # Japanese: switch the language and take the same pages.
    page.get_by_label("Language").select_option("ja")
    expect(page.get_by_role("heading", name="ワークリスト")).to_be_visible()
    shot(page, "ja-10-worklist")
    page.goto(case_url.split("?")[0] + "?tab=report")
    expect(page.get_by_test_id("report-form")).to_contain_text("署名済")
    shot(page, "ja-08-report")
    page.goto(case_url.split("?")[0] + "?tab=ai")
    page.wait_for_function("() => window.__glomOverlay && window.__glomOverlay.viewer && window.__glomOverlay.viewer.world.getItemCount() === 1")
    page.wait_for_timeout(1500)
    shot(page, "ja-04-case-viewer")
    page.get_by_role("button", name="アップロード", exact=True).first.click()
    expect(page.get_by_test_id("upload-drawer")).to_contain_text("スライドのアップロード")
    shot(page, "ja-03-upload-drawer")
    page.keyboard.press("Escape")
    page.get_by_role("link", name="二次読影").click()
    shot(page, "ja-09-second-reads")
    page.get_by_role("button", name="ログアウト").click()
    expect(page.get_by_role("heading", name="ログイン")).to_be_visible()
    shot(page, "ja-01-login")

    # The admin: discrepancy table with CSV export, agreement, audit log, users (Japanese, then English).
    page.get_by_label("メールアドレス").fill(ADMIN_EMAIL)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_role("link", name="管理").click()
    expect(page.get_by_test_id("admin-discrepancies")).to_be_visible()
    shot(page, "ja-13-admin-discrepancies")
    page.get_by_label("表示言語").select_option("en")
    expect(page.get_by_role("heading", name="Discrepancies")).to_be_visible()
    shot(page, "en-13-admin-discrepancies")
    href = page.get_by_test_id("csv-export").get_attribute("href")
    assert href
    csv = page.request.get(f"{server}{href}")
    assert csv.status == 200 and "text/csv" in csv.headers.get("content-type", ""), (csv.status, csv.headers)
    for section, heading in (("agreement", "Agreement"), ("audit", "Audit log"), ("users", "Users and institutions")):
        page.get_by_role("link", name=heading).click()
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        page.wait_for_timeout(300)
        shot(page, f"en-14-admin-{section}")
    expect(page.locator(".admin-body")).to_contain_text(EMAIL)

    assert not errors, f"JavaScript errors in the page: {errors}"
    ctx.close()
