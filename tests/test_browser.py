"""A real browser: JupyterLab on loopback, headless Chromium, two notebooks run cell by cell.

Checks that every cell runs without error, that the plots appear, and that the widgets render
and respond (moving a control changes what is shown). Screenshots go to build/browser/.
Waits follow the kernel's state (busy, then idle again), not a fixed time, so a loaded machine
only makes the test slower. Needs Debian's `chromium`: `make chromium` (a step of `make test`)
installs it when missing and running as root, as on CI; without it the test fails under CI and
is skipped elsewhere, saying why. Nothing is installed from inside the tests.
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


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium for the browser test: run `make chromium` "
                           "(as root it installs it with apt-get), or apt-get install chromium")
    pytest.skip("no chromium on this machine: `make chromium` as root, or apt-get install chromium",
                allow_module_level=True)

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
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=HANG_S * 1000)
    page.evaluate(WATCH_KERNEL)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

    def all_ran() -> bool:
        prompts = [p.strip() for p in page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()]
        shown = [p for p in prompts if p]  # cells with a collapsed input show no prompt
        return bool(shown) and all(re.fullmatch(r"\[\d+\]:", p) for p in shown)

    after_kernel_work(page, all_ran, f"{name}: every cell run", shot=f"{name}.timeout.png")
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


# Only a guard against a kernel that never answers: no wait below expects the kernel to be fast.
HANG_S = 900
# Once the kernel has been busy and is idle again, the browser has the results; this is how long it may
# take to draw them before the test says they never came.
DRAW_S = 30

# Record every kernel status the notebook's execution indicator shows (busy/idle), in order.
WATCH_KERNEL = """() => {
  const status = () => {
    const el = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return el ? el.getAttribute('data-status') : 'unknown';
  };
  window.__kernelLog = [status()];
  if (window.__kernelWatch) return;
  window.__kernelWatch = new MutationObserver(() => {
    const now = status();
    if (window.__kernelLog[window.__kernelLog.length - 1] !== now) window.__kernelLog.push(now);
  });
  window.__kernelWatch.observe(document.body, {subtree: true, childList: true, attributes: true,
                                               attributeFilter: ['data-status']});
}"""


def after_kernel_work(page, done, what: str, shot: str | None = None):
    """Wait until ``done()`` is true, for as long as the kernel works on it.

    Fails when the kernel has been busy and is idle again, yet ``done()`` stays false for DRAW_S
    (the work finished without the expected result); ``page.evaluate(WATCH_KERNEL)`` must have been
    called just before the action that starts the work.
    """
    start, idle_since = time.monotonic(), None
    while time.monotonic() - start < HANG_S:
        result = done()
        if result:
            return result
        log = page.evaluate("window.__kernelLog")
        finished = "busy" in log and log[-1] == "idle"
        idle_since = (idle_since or time.monotonic()) if finished else None
        if idle_since and time.monotonic() - idle_since > DRAW_S:
            break
        time.sleep(0.25)
    if shot:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / shot), full_page=True)
    state = page.evaluate("window.__kernelLog")
    pytest.fail(f"{what}: not there after the kernel's work (kernel states seen: {state})")


def changes(page, locator, before: str) -> str:
    """Wait (on the kernel, see after_kernel_work) until ``locator``'s text differs from ``before``."""
    def new_text():
        now = locator.inner_text()
        return now if now != before else None

    return after_kernel_work(page, new_text, f"a change of {before[:200]!r}")


def move_slider(page, slider, dx: int) -> None:
    """Drag ``slider``'s handle by ``dx`` pixels until its readout shows a new value (the browser's own work)."""
    readout = slider.locator(".widget-readout").first
    before = readout.inner_text() if readout.count() else None
    for _ in range(3):
        drag(page, slider.locator(".noUi-handle").first, dx)
        for _ in range(40):
            if before is None or readout.inner_text() != before:
                return
            time.sleep(0.25)
    pytest.fail(f"the slider did not move (readout still {before!r})")


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
    page.evaluate(WATCH_KERNEL)
    move_slider(page, widget.locator(".widget-slider").first, -80)  # fewer frames per second
    after = changes(page, cost, before)
    assert "visual tokens" in after
    page.evaluate(WATCH_KERNEL)
    ask_button.click()
    answer = widget.locator(".widget-output").locator("text=Answer")
    after_kernel_work(page, lambda: answer.count() > 0, "the widget's answer", shot="02_widget.timeout.png")
    shot(page, "02_decision_making_widget.png")


def test_grpo_notebook_runs_and_the_advantage_explorer_responds(browser, lab):
    page = run_notebook(browser, lab, "06_grpo_advantage.ipynb")
    assert page.locator(".jp-OutputArea-output img").count() >= 2, "plots missing"
    explorer = page.locator(".widget-vbox", has=page.locator("text=advantages:")).first
    explorer.scroll_into_view_if_needed()
    printed = explorer.locator(".widget-output").first
    before = printed.inner_text()
    assert "advantages:" in before
    page.evaluate(WATCH_KERNEL)
    move_slider(page, explorer.locator(".widget-slider").first, -150)  # lower the first answer's reward
    assert "advantages:" in changes(page, printed, before)
    assert explorer.locator("img").count() >= 1, "the bar plot is missing from the explorer"
    shot(page, "06_grpo_explorer.png")
