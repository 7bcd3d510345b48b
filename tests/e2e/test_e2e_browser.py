"""End to end in a real Chromium (Debian's /usr/bin/chromium through Playwright; never `playwright install`).

A `glomcheck serve` subprocess (API + embedded worker, SQLite under a temp var dir) serves the built
front end. The whole double check, in file order (the three tests share one server and FLOW):

1. A pathologist logs in, uploads a synthetic PAS biopsy with tus (a wrong file type is refused before
   upload, a broken slide by the server, a dropped connection resumes), watches the live analysis
   progress, signs a report the AI disagrees with (after an expired session that loses nothing typed),
   sees the overlay of the real analysis and amends the report.
2. A second pathologist of the same institution gets the alert (bell, queue), acknowledges it, records
   their own assessment and resolves it with a reason.
3. The admin sees the discrepancy, exports the CSV (its content is checked), and opens the agreement,
   audit, users, settings and model pages.

With the trained models in the checkout (models/glom_*/card.json) the analysis must succeed and the
overlay comes from it; without them the failure must be shown plainly and planted glomeruli stand in.
Screenshots of every page, in English and Japanese, go to test-artifacts/screenshots/.

Needs `cd frontend && npm ci && npm run build` first; fails (never skips) without Chromium or a build.
"""

from __future__ import annotations

import json
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
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "frontend" / "dist"
SHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("GLOMCHECK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
from tests.conftest import SHARED_DATA

SLIDE = SHARED_DATA / "slides" / "CMU-1-Small-Region.svs"
INVALID_SLIDE = SHARED_DATA / "slides" / "invalid" / "truncated.svs"
EMAIL, PASSWORD = "path1@e2e.example", "correct-horse-e2e-1"
READER_EMAIL = "path2@e2e.example"  # the second reader: another pathologist of the same institution
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
    env.update({"GLOMCHECK_VAR_DIR": str(var), "GLOMCHECK_ENVIRONMENT": "development", "PYTHONUNBUFFERED": "1",
                # Serve this checkout's code: a stale editable-install finder can resolve `models` as a namespace package.
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))})
    _glomcheck("db", "upgrade", env=env)
    _glomcheck("create-user", "--email", EMAIL, "--password", PASSWORD, "--institution", "E2E", "--name", "Dr. E2E", env=env)
    _glomcheck("create-user", "--email", READER_EMAIL, "--password", PASSWORD, "--institution", "E2E", "--name", "Dr. Second",
               env=env)
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

    shutil.rmtree(SHOTS, ignore_errors=True)  # this run's screenshots only, no stale names from older runs
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


def lang(page, code: str) -> None:  # type: ignore[no-untyped-def]
    """Switch the UI language with the header (or login page) switch."""
    page.locator(".lang-switch").first.select_option(code)
    page.wait_for_function("(c) => document.documentElement.lang === c", arg=code)


def shots(page, name: str, *, settle_ms: int = 250) -> None:  # type: ignore[no-untyped-def]
    """The same page in English and in Japanese (the language is switched in place, nothing reloads)."""
    shot(page, f"en-{name}")
    lang(page, "ja")
    page.wait_for_timeout(settle_ms)
    shot(page, f"ja-{name}")
    lang(page, "en")


def login(page, server: str, email: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(f"{server}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()


def new_page(browser: Any) -> tuple[Any, Any, list[str]]:
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="en-GB", accept_downloads=True)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return ctx, page, errors


@pytest.fixture(scope="module")
def synthetic_slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic PAS needle biopsy (worker.synth, seed 7: 8 drawn glomeruli) the trained detector can find glomeruli in."""
    from worker.synth import make_slide

    out = tmp_path_factory.mktemp("synth") / "E2E-biopsy_PAS.tiff"
    make_slide(out, seed=7, stain="pas", fmt="tiff", size="small")
    return out


FLOW: dict[str, object] = {}  # state handed from one step of the flow to the next (tests run in file order)


def test_1_pathologist_uploads_analyses_and_signs(served: tuple[str, Path], browser, synthetic_slide: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Log in → upload (bad inputs refused plainly, a dropped connection resumed) → live progress → overlay from
    the real analysis → sign a report the AI disagrees with → amend it; clinical data with eGFR and outlook."""
    from playwright.sync_api import expect

    server, var = served
    wrong = tmp_path / "referral-letter.pdf"
    wrong.write_bytes(b"%PDF-1.4 not a slide")
    broken = tmp_path / "E2E-broken_PAS.svs"
    shutil.copyfile(INVALID_SLIDE, broken)
    ctx, page, errors = new_page(browser)

    # Login: a wrong password is refused plainly and the e-mail stays typed.
    page.goto(f"{server}/")
    expect(page).to_have_url(f"{server}/login?next=%2F")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong e-mail or password")
    expect(page.get_by_label("E-mail")).to_have_value(EMAIL)
    shots(page, "01-login")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    shots(page, "02-worklist-empty")

    # Upload drawer: a new case; a wrong file type is refused before upload, a broken slide by the server.
    page.get_by_role("button", name="Upload", exact=True).first.click()
    drawer = page.get_by_test_id("upload-drawer")
    expect(drawer).to_be_visible()
    drawer.get_by_test_id("new-case").click()
    expect(drawer.get_by_test_id("drop-zone")).to_contain_text("Drop slides for case")
    drawer.get_by_test_id("file-input").set_input_files([str(wrong), str(synthetic_slide), str(broken)])
    bad = drawer.locator('[data-testid="upload-row"][data-phase="invalid"]')
    expect(bad).to_contain_text("not a slide file")
    row = drawer.locator('[data-testid="upload-row"]', has_text="E2E-biopsy_PAS.tiff")
    expect(row.get_by_label("Stain")).to_have_value("pas")
    row.get_by_role("button", name="Upload", exact=True).click()
    refused = drawer.locator('[data-testid="upload-row"]', has_text="E2E-broken_PAS.svs")
    refused.get_by_role("button", name="Upload", exact=True).click()
    expect(row).to_have_attribute("data-phase", "done", timeout=120_000)
    expect(row).to_contain_text("Done")
    expect(refused).to_have_attribute("data-phase", "rejected", timeout=60_000)
    expect(refused).to_contain_text("Refused by the server")
    expect(refused).to_contain_text("not a whole-slide image")  # the server's own words
    shots(page, "03-upload-drawer")

    # A dropped connection mid-upload: the first PATCH is cut off; tus asks the server for the offset and resumes.
    second = tmp_path / "E2E-biopsy_PAM.svs"
    shutil.copyfile(SLIDE, second)
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

    # Case page: the PAS slide in the viewer with scale bar and magnification.
    expect(page.get_by_test_id("osd-host").locator("canvas").first).to_be_visible()
    page.get_by_role("tab", name="PAS").click()
    page.wait_for_function("() => window.__glomOverlay && window.__glomOverlay.viewer && window.__glomOverlay.viewer.world.getItemCount() === 1")
    page.wait_for_function("() => window.__glomOverlay.viewer.world.getItemAt(0).getFullyLoaded()", timeout=30_000)
    expect(page.locator(".scale-bar-label")).to_contain_text("m")
    expect(page.locator(".hud-mag")).to_contain_text("×")
    case_number = page.locator(".case-header h1").inner_text().strip()
    slide_id = int(re.search(r"slide=(\d+)", page.url).group(1))  # type: ignore[union-attr]
    case_url = page.url.split("?")[0]
    FLOW.update(case_number=case_number, case_url=case_url)
    shots(page, "04-case-viewer", settle_ms=600)

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
            shot(page, "en-05-analysis-progress")
            shot_taken = True
        if state in ("succeeded", "failed", "cancelled"):
            break
        page.wait_for_timeout(200)
    final = status.get_attribute("data-state")
    assert seen & {"queued", "running"}, f"no live progress was shown: {seen}"
    if MODELS_PRESENT:
        assert final == "succeeded", f"analysis ended {final!r} after states {seen}; header: {status.inner_text()}"
    else:
        # Without the model files the worker fails the job; the UI must say so, with the reason, not hang.
        assert final == "failed", f"analysis ended {final!r} after states {seen}"
        expect(status.locator(".job-error")).to_contain_text("model")

    # Blinded first read: no AI output before the pathologist signs.
    page.get_by_role("tab", name="AI").click()
    expect(page.locator(".tab-body")).to_contain_text("Available after you sign" if MODELS_PRESENT
                                                      else re.compile("Available after you sign|not been analysed"))
    shots(page, "06-ai-blinded")

    # The structured report, discordant on purpose: 12 glomeruli (adequate), nothing else abnormal.
    page.get_by_role("tab", name="Report").click()
    form = page.get_by_test_id("report-form")
    form.get_by_label("Glomeruli counted").fill("12")
    form.get_by_label("Globally sclerosed").fill("0")
    form.get_by_label("Cellular crescents", exact=True).fill("0")
    form.get_by_label("M (mesangial)").select_option("0")
    form.get_by_label("Comment").fill("E2E report")
    shots(page, "07-report-form")
    # An expired session mid-report: a clear dialog, sign in again in place, nothing typed is lost.
    ctx.clear_cookies()
    form.get_by_role("button", name="Save draft").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Your session has expired")
    shots(page, "08-session-expired")
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name="Sign in and continue").click()
    expect(dialog).to_have_count(0)
    expect(form.get_by_label("Glomeruli counted")).to_have_value("12")
    expect(form.get_by_label("Comment")).to_have_value("E2E report")
    form.get_by_role("button", name="Save draft").click()
    expect(form).to_contain_text("Draft saved.")
    form.get_by_test_id("sign").click()
    form.get_by_test_id("confirm-sign").click()
    # Signing runs the comparison with the AI synchronously: allow it time on a loaded machine.
    expect(page.get_by_role("tab", name="Comparison")).to_have_attribute("aria-selected", "true", timeout=30_000)
    if MODELS_PRESENT:
        # The comparison with the real AI: at least one major discrepancy, highlighted, and a second-read alert.
        expect(page.get_by_test_id("comparison").locator('tr[data-severity="major"]').first).to_be_visible()
    shots(page, "09-comparison")
    if MODELS_PRESENT:
        # The worklist now shows the case discrepant: AI ready, the major count in red, the assigned second reader.
        page.get_by_role("link", name="Worklist").click()
        wl_row = page.get_by_test_id("worklist").locator("tr", has_text=case_number)
        expect(wl_row).to_contain_text("Discrepant")
        expect(wl_row.locator('[data-ai-state="succeeded"]')).to_contain_text("Ready")
        expect(wl_row.get_by_test_id("major-badge")).to_be_visible()
        expect(wl_row).to_contain_text("Dr. Second")
        shots(page, "09b-worklist-discrepant")

    # The overlay: from the real analysis when the models are in the checkout, else planted test glomeruli.
    if not MODELS_PRESENT:
        plant_glomeruli(var, slide_id)
    page.goto(f"{case_url}?slide={slide_id}&tab=ai")
    expect(page.get_by_test_id("legend")).to_be_visible()
    page.wait_for_function("() => window.__glomOverlay && window.__glomOverlay.drawn > 0")
    n_drawn = page.evaluate("() => window.__glomOverlay.drawn")
    assert n_drawn >= 1
    if MODELS_PRESENT:  # planted glomeruli (no models) come without a case assessment
        expect(page.get_by_test_id("assessment")).to_be_visible()
        # the real pipeline ran the out-of-focus check: a count (the synthetic slide is sharp), no rescan warning
        expect(page.get_by_test_id("out-of-focus")).to_have_text(re.compile(r"^\d+$"))
        expect(page.get_by_test_id("slide-blurred")).to_have_count(0)
        # and the marker-ink rule: the synthetic slide carries no ink
        expect(page.get_by_test_id("marker-ink")).to_have_text("none found")
        # and how long the worker took, stage by stage (the worker's own timings)
        expect(page.get_by_test_id("analysis-time")).to_have_text(re.compile(
            r"^Analysis time: \d+(\.\d)? s · tissue \d+\.\d s · detection \d+\.\d s · finishing \d+\.\d s$"))
    expect(page.get_by_test_id("model-caveat").first).to_contain_text("research model")
    # The AI's outlines leave as QuPath GeoJSON through the panel's plain link (the session cookie authenticates it).
    with page.expect_download() as dl:
        page.get_by_test_id("geojson-export").click()
    assert dl.value.suggested_filename == f"slide-{slide_id}-glomeruli.geojson"
    exported = json.loads(Path(dl.value.path()).read_text())
    assert exported["type"] == "FeatureCollection" and len(exported["features"]) >= n_drawn
    page.keyboard.press("n")
    card = page.get_by_test_id("glom-card")
    expect(card).to_contain_text("Glomerulus 1 of")
    expect(card.locator(".glom-crop img")).to_be_visible(timeout=15_000)
    if n_drawn > 1:
        page.keyboard.press("n")
        expect(card).to_contain_text("Glomerulus 2 of")
        page.keyboard.press("p")
        expect(card).to_contain_text("Glomerulus 1 of")
    page.wait_for_timeout(800)
    shots(page, "10-overlay-card", settle_ms=400)
    # The caveat beside the AI's numbers leads to the model card, with the synthetic-only findings up front.
    card.get_by_test_id("model-caveat").get_by_role("link", name="see card").click()
    expect(page).to_have_url(re.compile(r"/models#glom_classifier$"))
    if MODELS_PRESENT:
        model_card = page.locator('[data-testid="model-card"][data-model="glom_classifier"]')
        expect(model_card.get_by_test_id("synthetic-only")).to_contain_text("synthetic data only")
        expect(model_card).to_contain_text("CC BY-NC-SA")
        # the detector's synthetic F1 stands beside its real-tissue figure (whole pipeline on stitched real fields)
        det_card = page.locator('[data-testid="model-card"][data-model="glom_detector"]')
        expect(det_card.get_by_test_id("detection-figures").locator('tr[data-kind="real_stitched"]')).to_contain_text(
            "whole pipeline")
        expect(det_card.get_by_test_id("detection-figures").locator('tr[data-kind="synthetic"]')).to_be_visible()
    page.wait_for_timeout(300)
    shots(page, "10b-model-card")
    page.go_back()
    expect(page.get_by_test_id("legend")).to_be_visible()
    page.wait_for_function("() => window.__glomOverlay && window.__glomOverlay.drawn > 0")
    page.get_by_label("Filter by finding").select_option("status:normal")
    expect(page.get_by_test_id("gallery")).to_contain_text("shown")
    page.keyboard.press("f")
    expect(page.get_by_test_id("legend").get_by_role("checkbox").first).not_to_be_checked()
    page.keyboard.press("f")
    page.keyboard.press("Escape")
    page.wait_for_timeout(500)
    shots(page, "11-overlay-gallery", settle_ms=400)

    # Amendment: a new version with a reason; the signed version stays; the new one is signed in turn.
    page.get_by_role("tab", name="Report").click()
    form = page.get_by_test_id("report-form")
    expect(form).to_contain_text("Signed (version 1)")
    expect(form.get_by_label("Glomeruli counted")).to_have_value("12")
    form.get_by_test_id("amend").click()
    form.get_by_label("Why is the report amended?").fill("Recount on review with the AI overlay")
    form.get_by_test_id("amend-start").click()
    expect(form).to_have_attribute("data-mode", "amendmentDraft")
    expect(form.get_by_test_id("amendment-reason")).to_contain_text("Recount on review")
    form.get_by_label("Glomeruli counted").fill("9")
    shots(page, "12-amendment")
    form.get_by_test_id("sign").click()
    form.get_by_test_id("confirm-sign").click()
    # Signing runs the comparison with the AI synchronously: allow it time on a loaded machine.
    expect(page.get_by_role("tab", name="Comparison")).to_have_attribute("aria-selected", "true", timeout=30_000)
    if MODELS_PRESENT:
        expect(page.get_by_test_id("comparison")).to_contain_text("Report version 2")
    page.get_by_role("tab", name="Report").click()
    expect(page.get_by_test_id("report-form")).to_contain_text("Signed (version 2)")
    expect(page.get_by_test_id("report-versions")).to_contain_text("Recount on review")

    # Clinical data: the form follows the server's field catalogue; eGFR is computed as one types; the outlook
    # comes with its interval and the synthetic-cohort caveat.
    page.get_by_role("tab", name="Clinical").click()
    page.get_by_test_id("clinical-edit").click()
    cf = page.get_by_test_id("clinical-form")
    cf.get_by_label("Age").fill("45")
    cf.get_by_label("Sex").select_option("female")
    cf.get_by_label("Serum creatinine").fill("1.2")
    egfr = round(194 * 1.2 ** -1.094 * 45 ** -0.287 * 0.739, 1)
    expect(cf.get_by_test_id("egfr-preview")).to_have_text(f"{egfr:.1f}")
    cf.get_by_label("Systolic BP").fill("128")
    cf.get_by_label("Diastolic BP").fill("78")
    cf.get_by_label("Urinary protein", exact=True).fill("1.1")
    cf.get_by_label("Unit of urinary protein").select_option("g/day")
    cf.get_by_label("Haematuria").select_option("1+")
    shots(page, "13-clinical-form")
    cf.get_by_test_id("clinical-save").click()
    expect(page.get_by_test_id("clinical")).to_contain_text(f"{egfr:.1f}")
    outlook = page.get_by_test_id("outlook")
    expect(outlook.get_by_test_id("outlook-caveat")).to_contain_text("synthetic", ignore_case=True)
    page.wait_for_timeout(300)
    shots(page, "13b-clinical-outlook")

    # History: the case's audit trail, newest first.
    page.get_by_role("tab", name="History").click()
    history = page.get_by_test_id("history")
    expect(history).to_contain_text("Report signed")
    expect(history).to_contain_text("Amendment started")
    expect(history).to_contain_text("Clinical data updated")
    shots(page, "14-history")

    FLOW["errors_1"] = errors
    ctx.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def test_2_second_reader_resolves_the_alert(served: tuple[str, Path], browser) -> None:  # type: ignore[no-untyped-def]
    """A second pathologist of the same institution: notification, queue, acknowledge, own assessment, resolve."""
    from playwright.sync_api import expect

    if not MODELS_PRESENT:
        pytest.fail("the trained models (models/glom_detector, models/glom_classifier) are missing: no real comparison, no alert")
    assert FLOW.get("case_number"), "test_1 did not get as far as signing"
    server, _ = served
    case_number = str(FLOW["case_number"])
    ctx, page, errors = new_page(browser)
    login(page, server, READER_EMAIL)

    # The bell: an unread notification for the alert assigned to me.
    bell = page.get_by_test_id("bell")
    expect(bell.locator(".bell-count")).to_have_text(re.compile(r"[1-9]"), timeout=15_000)
    bell.click()
    expect(page.locator(".bell-menu")).to_contain_text(case_number)
    shots(page, "15-notifications")
    page.keyboard.press("Escape")
    bell.click()

    # The second-read queue: the case, its severity and the fields in disagreement.
    page.get_by_role("link", name="Second reads").click()
    expect(page.get_by_role("heading", name="Second-read queue")).to_be_visible()
    alert_row = page.get_by_test_id("alert-row").filter(has_text=case_number)
    expect(alert_row).to_contain_text("Major")
    expect(alert_row).to_contain_text("Open")
    shots(page, "16-second-read-queue")
    alert_row.get_by_role("link", name="Open").click()

    # The case page opens on the comparison with the alert's actions.
    expect(page.get_by_role("tab", name="Comparison")).to_have_attribute("aria-selected", "true")
    panel = page.get_by_test_id("alert-panel")
    expect(panel).to_have_attribute("data-state", "open")
    expect(page.get_by_test_id("case-alert")).to_contain_text("Second reader: Dr. Second")
    panel.get_by_test_id("acknowledge").click()
    expect(panel).to_have_attribute("data-state", "acknowledged")
    expect(bell.locator(".bell-count")).to_have_count(0)  # acting on the alert answers its notification
    panel.get_by_test_id("own-assessment-toggle").click()
    own = panel.get_by_test_id("second-read-form")
    own.get_by_label("Glomeruli counted").fill("8")
    own.get_by_label("Globally sclerosed").fill("1")
    own.get_by_label("M (mesangial)").select_option("0")
    own.get_by_label("Comment").fill("Second read: agree with the amended count")
    own.get_by_test_id("record-second-read").click()
    expect(own).to_contain_text("Your assessment recorded")
    shots(page, "17-alert-own-assessment")
    resolve = panel.get_by_test_id("resolve-form")
    resolve.get_by_label("Reason").select_option("report_amended")
    resolve.get_by_label("Note (optional)").fill("Amended report confirmed on second read")
    resolve.get_by_role("button", name="Resolve").click()
    expect(panel).to_have_attribute("data-state", "resolved")
    expect(panel).to_contain_text("Resolved: Report amended")
    shots(page, "18-alert-resolved")

    # The worklist: the case with its AI state and discrepancy badge; the queue is empty again.
    page.get_by_role("link", name="Worklist").click()
    wl_row = page.get_by_test_id("worklist").locator("tr", has_text=case_number)
    expect(wl_row).to_contain_text("PAS")
    shots(page, "19-worklist")
    ctx.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def test_3_admin_sees_the_discrepancy_and_exports_csv(served: tuple[str, Path], browser) -> None:  # type: ignore[no-untyped-def]
    """The admin: discrepancy table and CSV (its content), agreement charts, audit log, users, settings, model cards."""
    from playwright.sync_api import expect

    server, _ = served
    case_number = str(FLOW.get("case_number") or "")
    ctx, page, errors = new_page(browser)
    login(page, server, ADMIN_EMAIL)
    page.get_by_role("link", name="Admin").click()
    table = page.get_by_test_id("admin-discrepancies")
    expect(table).to_be_visible()
    # The report was amended, so the discrepancy that raised the alert belongs to a superseded comparison.
    page.get_by_label("Include superseded comparisons").check()
    if MODELS_PRESENT and case_number:
        expect(table).to_contain_text(case_number)
        expect(table.locator(".badge.major").first).to_be_visible()
    shots(page, "20-admin-discrepancies")
    with page.expect_download() as dl:
        page.get_by_test_id("csv-export").click()
    download = dl.value
    assert download.suggested_filename.endswith(".csv"), download.suggested_filename
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    header = text.splitlines()[0]
    assert "case_number" in header and "severity" in header, header
    if MODELS_PRESENT and case_number:
        assert case_number in text, f"the case {case_number} is not in the exported CSV:\n{text[:1000]}"
        assert "major" in text

    sections = (("agreement", "Agreement"), ("audit", "Audit log"), ("users", "Users and institutions"),
                ("settings", "Settings"), ("models", "Models"))
    for i, (section, heading) in enumerate(sections, start=1):
        page.locator(".sub-nav").get_by_role("link", name=heading).click()
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        page.wait_for_timeout(300)
        if section == "settings":
            # A threshold changed and saved: the institution's assessments are recomputed at once.
            settings = page.get_by_test_id("settings")
            settings.get_by_label("Minimum κ").fill("0.5")
            settings.get_by_test_id("settings-save").click()
            expect(settings).to_contain_text("case assessments recomputed")
            expect(settings.locator(".setting", has_text="Minimum κ")).to_contain_text("institution")
        shots(page, f"2{i}-admin-{section}")
    ctx.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
