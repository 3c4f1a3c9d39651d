"""botocore costs its import (most of a second) only on the first bedrock call that needs it:
never at ``import llmrouter``, not at the plugin's import, not for a Bedrock API key (bearer)
call, and for signed calls when the first signature is made. Each check runs in a fresh
interpreter, so what an earlier test imported cannot hide an import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import sys

def loaded(name):
    return any(m == name or m.startswith(name + ".") for m in sys.modules)

import llmrouter
assert not loaded("botocore") and not loaded("llmrouter_bedrock"), "import llmrouter"

import llmrouter_bedrock.plugin as plugin
import llmrouter_bedrock.testing
assert not loaded("botocore"), "import llmrouter_bedrock.plugin"

from llmrouter.pipeline import Call, ChatPrompt
from llmrouter.secrets import Secret

messages = [{"role": "user", "content": "Hi"}]
def request(**params):
    call = Call("chat", "bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0",
                messages=messages, params=params, stream=params.pop("stream", False))
    if params.pop("bearer", False):
        call.api_key = Secret("ABSKexampleexample0123")
    return plugin.llmrouter_build_request(call=call, prompt=ChatPrompt(messages))

request(bearer=True, aws_region_name="us-east-1")
request(bearer=True, aws_region_name="us-east-1", stream=True)
assert not loaded("botocore"), "a bearer call"

signed = request(aws_region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE00000001",
                 aws_secret_access_key="secretsecretsecret")
assert not loaded("botocore"), "building a signed request (explicit keys)"
signed.sign(b"{}")
assert loaded("botocore.auth"), "the first signature"
print("ok")
"""


def test_botocore_is_imported_on_the_first_call_that_needs_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LLMROUTER_"))}
    env["AWS_CONFIG_FILE"] = str(tmp_path / "none")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok"
