"""Shared fixtures of the Bedrock plugin's tests: no developer's AWS setup leaks in.

Every test runs with the ``AWS_*`` variables removed, the AWS config and credentials files
pointed at paths that do not exist, and the instance-metadata lookup turned off, so the
credential chain finds only what a test gives it and never waits on the network.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmrouter_bedrock.testing import BedrockEmulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bedrock_support import KEY_ID, REGION, SECRET


@pytest.fixture(autouse=True)
def _no_aws_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_") and name != "AWS_CA_BUNDLE":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="module")
def server() -> Iterator[BedrockEmulator]:
    """One emulator per test module, which knows the test key and verifies its signatures."""
    with BedrockEmulator(credentials={KEY_ID: SECRET}, region=REGION) as emulator:
        yield emulator


@pytest.fixture
def bedrock(server: BedrockEmulator, monkeypatch: pytest.MonkeyPatch) -> BedrockEmulator:
    """The module's emulator, reset, with the test credentials, region and endpoint in the
    environment (the standard chain finds them, as on a developer's machine)."""
    server.reset()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.url)
    return server
