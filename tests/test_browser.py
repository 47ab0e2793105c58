"""A real browser: JupyterLab on loopback, headless Chromium, two notebooks run cell by cell.

Checks that every cell runs without error, that the plots appear, and that the widgets render
and respond (moving a control changes what is shown). Screenshots go to build/browser/.
Needs Debian's `chromium`: installed with apt-get when missing and running as root (as CI
does); otherwise the test fails under CI and is skipped locally, saying why.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import ROOT

SHOTS = ROOT / "build" / "browser"
TOKEN = "cosmos-nb-browser-test"


def find_or_install_chromium() -> str | None:
    """Debian's chromium; installed with apt-get when missing and we may (root, as in CI)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(["apt-get", "update", "-qq"], check=False, **quiet)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, **quiet)
    return shutil.which("chromium")


CHROMIUM = find_or_install_chromium()
if not CHROMIUM:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium for the browser test: apt-get install chromium")
    pytest.skip("no chromium on this machine (apt-get install chromium)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of the course (the committed notebooks stay untouched)."""
    work = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "notebooks", work / "notebooks")
    shutil.copytree(ROOT / "assets", work / "assets")
    settings = work / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # render every cell (no virtual scrolling), so the test sees every prompt and output
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel must use the inline backend
    env.update(COSMOS_NB_MODEL="tiny", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={work / 'notebooks'}",
         f"--LabApp.user_settings_dir={work / 'settings'}", f"--LabApp.workspaces_dir={work / 'workspaces'}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def run_notebook(browser, lab: str, name: str):
    """Open ``name`` in JupyterLab, run every cell, wait for the kernel; return the page."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    workspace = name.split(".")[0]  # a fresh workspace per notebook: one tab, one kernel
    page.goto(f"{lab}/lab/workspaces/{workspace}/tree/{name}?token={TOKEN}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    select = page.locator(".jp-Dialog button", has_text="Select")
    try:  # JupyterLab may ask which kernel to start
        select.wait_for(timeout=5_000)
        select.click()
    except sync_api.TimeoutError:
        pass
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    deadline = time.time() + 300
    while time.time() < deadline:
        prompts = [p.strip() for p in page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()]
        shown = [p for p in prompts if p]  # cells with a collapsed input show no prompt
        if shown and all(re.fullmatch(r"\[\d+\]:", p) for p in shown):
            break
        time.sleep(1)
    else:
        page.screenshot(path=str(SHOTS / f"{name}.timeout.png"), full_page=True)
        pytest.fail(f"{name}: cells still running or not run after 300 s")
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.first.inner_text()[:2000]
    return page


def drag(page, handle, dx: int) -> None:
    """Move a slider's handle sideways with the mouse, as a person would."""
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=8)
    page.mouse.up()


def changes(locator, before: str, timeout: float = 30) -> str:
    """Wait until ``locator``'s text differs from ``before``; return the new text."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = locator.inner_text()
        if now != before:
            return now
        time.sleep(0.25)
    raise AssertionError(f"the shown result did not change: {before[:200]!r}")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=False)


def test_scenario_notebook_runs_and_its_widget_responds(browser, lab):
    page = run_notebook(browser, lab, "02_decision_making.ipynb")
    assert page.locator(".jp-OutputArea-output img").count() >= 1, "no plot was shown"
    assert page.locator("text=Tiny random model.").count() >= 1, "the noise banner is missing"
    ask_button = page.locator(".jupyter-widgets button", has_text="Ask").first
    ask_button.scroll_into_view_if_needed()
    widget = page.locator(".widget-vbox", has=ask_button).first
    cost = widget.locator(".widget-html").first
    before = cost.inner_text()
    assert "visual tokens" in before
    drag(page, widget.locator(".noUi-handle").first, -80)  # fewer frames per second
    after = changes(cost, before)
    assert "visual tokens" in after
    ask_button.click()
    widget.locator("text=Answer").first.wait_for(timeout=120_000)
    shot(page, "02_decision_making_widget.png")


def test_grpo_notebook_runs_and_the_advantage_explorer_responds(browser, lab):
    page = run_notebook(browser, lab, "06_grpo_advantage.ipynb")
    assert page.locator(".jp-OutputArea-output img").count() >= 2, "plots missing"
    explorer = page.locator(".widget-vbox", has=page.locator("text=advantages:")).first
    explorer.scroll_into_view_if_needed()
    printed = explorer.locator(".widget-output").first
    before = printed.inner_text()
    assert "advantages:" in before
    drag(page, explorer.locator(".noUi-handle").first, -150)  # lower the first answer's reward
    assert "advantages:" in changes(printed, before)
    assert explorer.locator("img").count() >= 1, "the bar plot is missing from the explorer"
    shot(page, "06_grpo_explorer.png")
