"""Chromium (Debian's, installed here when missing) driven by Playwright, against the registry app
served in-process by uvicorn over its fakes (`demo`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from .demo import Demo, demo_registry

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
from service_processes import free_port  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ACTION_TIMEOUT_MS = 10_000


def ensure_chromium() -> Path:
    """Debian's chromium, installed with apt-get when it is missing (idempotent, quiet)."""
    if CHROMIUM.exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.fail("chromium is missing and there is no apt-get to install it")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt, "install", "-y", "-q", "chromium"], [apt, "update", "-q"]):
        subprocess.run(
            command,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=900,
            check=False,
        )
        if CHROMIUM.exists():
            return CHROMIUM
    subprocess.run(
        [apt, "install", "-y", "-q", "chromium"],
        env=environment,
        stdout=subprocess.DEVNULL,
        timeout=900,
        check=False,
    )
    if not CHROMIUM.exists():
        pytest.fail("could not install Debian's chromium with apt-get")
    return CHROMIUM


def pytest_collection_finish(session: pytest.Session) -> None:
    """Install Chromium before any test runs, so that the install does not count against the
    first browser test's timeout."""
    here = Path(__file__).parent
    if any(Path(str(item.path)).is_relative_to(here) for item in session.items):
        ensure_chromium()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = await asyncio.to_thread(ensure_chromium)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(executable), args=CHROMIUM_FLAGS, headless=True, timeout=60_000
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def demo() -> AsyncIterator[tuple[Demo, str]]:
    """A fresh seeded registry served on a loopback port: (the demo, its base URL)."""
    found = await demo_registry()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            found.app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:  # noqa: ASYNC110 - uvicorn has no event for it
            await asyncio.sleep(0.02)
    try:
        yield found, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    made = await browser.new_context(viewport={"width": 1000, "height": 900})
    made.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


def screenshot_path(name: str) -> str:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOTS / name)
