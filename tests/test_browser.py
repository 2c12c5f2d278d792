"""The chat page in a real browser: headless Debian Chromium driving `python app/app.py` on the bundled corpus.

The server runs in a subprocess with the real embedding model and spaCy, on a copy of `corpus/` indexed in a
temporary folder (the repository's `index/` and `data/` are untouched), plus one hostile note whose HTML and
script must show as text. Needs `apt-get install chromium chromium-driver`; skipped without them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.model]  # the server loads the real model and spaCy

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT_COPY = Path("/tmp/cstoqa_browser.png")
STARTUP_SECONDS = 300
ANSWER_SECONDS = 90

HOSTILE_NOTE = """Zebra Protocol

The zebra protocol text reads <script>window.__cstoqa_pwned = 1</script> and \
<img src=x onerror="window.__cstoqa_pwned = 2"> and ${window.__cstoqa_pwned = 3} and {{value}} verbatim.
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    pytest.importorskip("selenium")
    tmp = tmp_path_factory.mktemp("browser")
    shutil.copytree(ROOT / "corpus", tmp / "corpus")
    (tmp / "corpus" / "zebra_protocol.txt").write_text(HOSTILE_NOTE, encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "CSTOQA_AUTH"}
    env.update(
        CSTOQA_CORPUS=str(tmp / "corpus"),
        CSTOQA_INDEX=str(tmp / "index"),
        CSTOQA_DATA=str(tmp / "data"),
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    )
    log_path = tmp / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app" / "app.py"), "--port", str(port)],
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not start within {STARTUP_SECONDS} s:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield url, tmp
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def driver(server: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1400,1100",
    ):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        browser.get(server[0])
        yield browser
    finally:
        browser.quit()


def last_reply(driver: Any) -> str:
    """Text of the newest bot message, or "" while there is none (the chat re-renders: always query afresh)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        replies = driver.find_elements(By.CSS_SELECTOR, "#cstoqa-chat .message.bot")
        return str(replies[-1].text) if replies else ""
    except StaleElementReferenceException:
        return ""


def ask(driver: Any, question: str) -> str:
    """Type a question, press Enter, and return the text of the reply once it has arrived."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, ANSWER_SECONDS)
    box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#cstoqa-question textarea"))
    before = len(driver.find_elements(By.CSS_SELECTOR, "#cstoqa-chat .message.bot"))
    box.send_keys(question)
    box.send_keys(Keys.ENTER)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cstoqa-chat .message.bot")) > before)
    done = ("Confidence", "sources don't say", "Sorry")
    return str(wait.until(lambda d: (text := last_reply(d)) and any(m in text for m in done) and text))


def test_asking_shows_the_answer_its_citation_and_the_highlighted_source(
    server: tuple[str, Path], driver: Any, tmp_path: Path
) -> None:
    from gradio_client import Client
    from selenium.webdriver.common.by import By

    reply = ask(driver, "When was the CSTO established?")
    shot = tmp_path / "browser_answer.png"  # taken before the checks, so a failure leaves one too
    assert driver.save_screenshot(str(shot))
    shutil.copyfile(shot, SCREENSHOT_COPY)
    assert "2002" in reply, reply
    assert "[1]" in reply, reply
    panel = driver.find_element(By.ID, "cstoqa-sources")
    marks = panel.find_elements(By.CSS_SELECTOR, "#cstoqa-source-1 mark.cstoqa-quote")
    assert marks, panel.get_attribute("innerHTML")
    # The highlight is exactly the cited span the API reports for the same question.
    expected = Client(server[0], verbose=False, analytics_enabled=False).predict(
        "When was the CSTO established?", api_name="/ask"
    )
    quote = expected["citations"][0]["quote"]
    assert " ".join(marks[0].text.split()) == " ".join(quote.split())
    assert "2002" in marks[0].find_element(By.CSS_SELECTOR, ".cstoqa-answer").text
    assert "Overview" in panel.find_element(By.CSS_SELECTOR, "#cstoqa-source-1 summary").text
    status = driver.find_element(By.ID, "cstoqa-status").text
    documents = sum(1 for p in (server[1] / "corpus").iterdir() if p.is_file())
    assert "Index built" in status and f"{documents} documents" in status, status


def test_follow_up_is_interpreted_and_a_vote_is_saved(server: tuple[str, Path], driver: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    reply = ask(driver, "Where is its secretariat?")
    assert "Interpreted as: Where is the CSTO's secretariat?" in reply, reply

    feedback = server[1] / "data" / "feedback.jsonl"
    driver.find_elements(By.CSS_SELECTOR, "#cstoqa-chat button[aria-label='Like']")[-1].click()  # the newest reply
    WebDriverWait(driver, 20).until(lambda d: feedback.exists() and feedback.read_text().strip())
    row = json.loads(feedback.read_text().splitlines()[-1])
    assert row["vote"] == "up"
    assert row["question"] == "Where is its secretariat?"
    assert row["asked"] == "Where is the CSTO's secretariat?"


def test_hostile_document_shows_as_text_and_never_runs(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    ask(driver, "What does the zebra protocol text read?")
    panel = driver.find_element(By.ID, "cstoqa-sources")
    text = panel.text
    assert "<script>window.__cstoqa_pwned = 1</script>" in text
    assert '<img src=x onerror="window.__cstoqa_pwned = 2">' in text
    assert "${window.__cstoqa_pwned = 3}" in text and "{{value}}" in text
    assert not panel.find_elements(By.CSS_SELECTOR, "img, script, iframe")
    chat = driver.find_element(By.ID, "cstoqa-chat")
    assert not chat.find_elements(By.CSS_SELECTOR, ".message img, .message script")
    assert driver.execute_script("return typeof window.__cstoqa_pwned") == "undefined"


def test_clear_chat_empties_the_conversation(driver: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, "cstoqa-clear").click()
    WebDriverWait(driver, 20).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#cstoqa-chat .message"))
    assert "appear here" in driver.find_element(By.ID, "cstoqa-sources").text
