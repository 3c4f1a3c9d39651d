"""Importing and using built-in templates costs no jinja2 import and no network."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_and_builtin_rendering_do_not_import_jinja2() -> None:
    out = _run(
        """
        import sys
        import llmrouter.templates as t
        from llmrouter.errors import PromptTemplateError
        assert "jinja2" not in sys.modules, "import pulled in jinja2"
        messages = [{"role": "user", "content": "hi"}]
        for name in t.prompt_templates():
            try:
                t.get_template(name).render(messages)
            except PromptTemplateError:
                pass
        t.render_prompt(messages, model="together_ai/togethercomputer/llama-2-70b-chat")
        t.register_prompt_template("acme/m", roles={"user": "U: "})
        t.render_prompt(messages, model="acme/m")
        assert "jinja2" not in sys.modules, "rendering pulled in jinja2"
        t.register_prompt_template("acme/j", chat_template="{{ messages[0].content }}")
        assert "jinja2" in sys.modules
        print(t.render_prompt(messages, model="acme/j"))
        """
    )
    assert out.strip() == "hi"


def test_no_network_during_import_or_rendering() -> None:
    out = _run(
        """
        import socket

        def refuse(*args, **kwargs):
            raise AssertionError("network access attempted")

        socket.socket = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        import llmrouter.templates as t
        from llmrouter.errors import PromptTemplateError
        messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
        for name in t.prompt_templates():
            try:
                t.get_template(name).render(messages)
            except PromptTemplateError:
                pass
        t.register_prompt_template("acme/j", chat_template="{{ messages | length }}")
        print(t.render_prompt(messages, model="acme/j"))
        """
    )
    assert out.strip() == "2"
