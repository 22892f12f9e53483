"""The viewer in a real browser: JupyterLab on 127.0.0.1, the system's Chromium driven by Playwright.

A tiny notebook makes a synthetic dataset and its evaluation (seconds), shows
`survey2survey.viewer.view` and is run in JupyterLab; the test checks that the widgets render,
that `next ▶` changes the image and that a bad catalogue query shows its message, and saves a
screenshot to `reports/screenshots/viewer.png`. Skipped where Chromium is missing (`.ci/run`
installs it with apt-get); no browser is downloaded.
"""
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from importlib.util import find_spec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = ROOT/"reports"/"screenshots"/"viewer.png"

MISSING = [m for m in ("jupyterlab", "playwright") if find_spec(m) is None]
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium)"),
              pytest.mark.skipif(bool(MISSING), reason=f"{', '.join(MISSING)} missing: pip install -e '.[dev]'")]

CELLS = [
    "import logging, tempfile, warnings\nfrom pathlib import Path\n"
    "from survey2survey.evaluate import evaluate, write_synthetic_dataset\nfrom survey2survey.viewer import view\n"
    'logging.getLogger("survey2survey").setLevel("ERROR"); warnings.simplefilter("ignore")',
    'ds = write_synthetic_dataset(Path(tempfile.mkdtemp())/"syn", n_train=2, n_val=4, n_external=0, chunk_size=8)\n'
    'evaluate(ds, bootstrap=0)\nview(ds, "pairs")',
]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on 127.0.0.1 serving a folder with the test notebook; its URL."
    work = tmp_path/"work"; work.mkdir()
    nb = dict(nbformat=4, nbformat_minor=5, cells=[
        dict(cell_type="code", id=f"c{i}", metadata={}, outputs=[], execution_count=None, source=s) for i, s in enumerate(CELLS)],
        metadata=dict(kernelspec=dict(name="python3", display_name="Python 3", language="python")))
    (work/"viewer.ipynb").write_text(json.dumps(nb))
    news = tmp_path/"settings"/"@jupyterlab"/"apputils-extension"/"notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps(dict(fetchNews="false", checkForUpdates=False)))    # no network, no toast
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path/"cfg"), JUPYTER_RUNTIME_DIR=str(tmp_path/"rt"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path/"settings"), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path/"ws"),
               SURVEY2SURVEY_PROGRESS="0", TF_CPP_MIN_LOG_LEVEL="2")
    log = open(tmp_path/"lab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
                             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
                             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
                            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2); break
            except OSError:
                assert proc.poll() is None, (tmp_path/"lab.log").read_text()[-3000:]
                time.sleep(0.5)
        yield f"{url}/lab/tree/viewer.ipynb?token={token}"
    finally:
        proc.terminate()
        try: proc.wait(20)
        except subprocess.TimeoutExpired: proc.kill()
        log.close()


def test_viewer_in_chromium(lab, tmp_path):
    from playwright import sync_api
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(tmp_path/"chromium-profile"), executable_path=CHROMIUM, headless=True,
                                                   args=FLAGS, viewport=dict(width=1400, height=1400))
        try:
            page = ctx.new_page()
            page.set_default_timeout(int(os.environ.get('S2S_BROWSER_TIMEOUT_MS', 180_000)))
            page.goto(lab)
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            page.locator(".jp-StatusBar-Widget", has_text="| Idle").wait_for()     # the kernel is up
            page.locator(".jp-Cell").first.click()
            for _ in CELLS: page.keyboard.press("Shift+Enter")
            nxt = page.get_by_role("button", name="next ▶")
            nxt.wait_for()
            image = page.locator(".widget-image")
            image.wait_for()
            row = page.locator(".widget-inline-hbox", has_text="row").locator("input").first
            assert row.input_value() == "0"
            for label in ("◀ previous", "better ▶", "◀ worse"): assert page.get_by_role("button", name=label).count() == 1
            assert page.locator(".widget-slider").count() == 2 and page.locator(".widget-checkbox").count() >= 4
            page.wait_for_function("() => document.querySelector('.widget-image').naturalWidth > 0")
            natural, shown = image.evaluate("e => [e.naturalWidth, e.clientWidth]")
            assert shown >= 0.95*natural, (natural, shown)     # not scaled down: the 15-pt panel titles stay readable
            before, pixels = image.get_attribute("src"), image.screenshot()
            nxt.click()
            page.wait_for_function("s => document.querySelector('.widget-image').src !== s", arg=before)
            assert row.input_value() == "1"
            page.wait_for_function("() => document.querySelector('.widget-image').complete")
            assert image.screenshot() != pixels
            query = page.get_by_placeholder("catalogue query, e.g. split == 'val'")
            query.fill("nonsense >")
            query.press("Enter")
            msg = page.locator(".widget-html", has_text="bad query")
            msg.wait_for()
            assert "SyntaxError" in msg.inner_text()
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        except Exception:
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT.with_name("viewer-failed.png")), full_page=True)
            raise
        finally:
            ctx.close()
