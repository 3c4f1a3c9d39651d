"""Built-in prompt formats, one small pure-Python function per model family.

Each function reproduces, byte for byte, what the family's official Hugging Face ``chat_template``
(``tests/templates/data/templates.json``) renders under transformers' conventions with
``bos_token=""`` (the inference server prepends BOS itself when it tokenizes). That includes the
quirks: which contents are stripped, where a system prompt lands, and which conversations the
template rejects (``Rejected`` carries the template's own ``raise_exception`` text).

They are plain string building rather than jinja2 so that rendering costs microseconds, needs no
jinja2 import, and can be read side by side with the template it mirrors. The tests render the
official templates with jinja2 and compare, including a property-based test over random
conversations, so every branch below is pinned to the reference.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llmrouter.errors import PromptTemplateError
from llmrouter.templates.base import PromptTemplate, Rejected, Turn, text_turns

__all__ = ["ALIASES", "BUILTINS", "FAMILIES"]

Family = Callable[[list[Turn], bool], str]

_ALTERNATE = "Conversation roles must alternate user/assistant/user/assistant/..."
_ALTERNATE_AFTER_SYSTEM = (
    "After the optional system message, conversation roles must alternate "
    "user/assistant/user/assistant/..."
)
_ONLY_USER_ASSISTANT = (
    "Only user and assistant roles are supported, with the exception of an initial optional "
    "system message!"
)
# The official templates index messages[0] unconditionally, which fails on an empty list.
_EMPTY = "the template needs at least one message (messages is empty)"


def _first_is_system(turns: list[Turn]) -> bool:
    if not turns:
        raise Rejected(_EMPTY)
    return turns[0][0] == "system"


# --- Llama 2 / CodeLlama ---------------------------------------------------------------------


def _llama2(turns: list[Turn], gen: bool) -> str:
    # System is folded into the first user turn and strip() applies to that combined string.
    # Roles other than user/assistant pass the alternation check at odd positions and render
    # nothing; add_generation_prompt is ignored.
    if _first_is_system(turns):
        system: str | None = turns[0][1]
        turns = turns[1:]
    else:
        system = None
    out: list[str] = []
    for i, (role, content, _) in enumerate(turns):
        is_user = role == "user"
        if is_user != (i % 2 == 0):
            raise Rejected(_ALTERNATE)
        if i == 0 and system is not None:
            content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content
        if is_user:
            out.append("[INST] " + content.strip() + " [/INST]")
        elif role == "assistant":
            out.append(" " + content.strip() + " </s>")
    return "".join(out)


def _codellama_70b(turns: list[Turn], gen: bool) -> str:
    # "Source: role\n\n content <step> " per turn, a hard-coded "<s>" (not bos_token) and an
    # unconditional generation header.
    offset = 1 if _first_is_system(turns) else 0
    out: list[str] = []
    for i, (role, content, _) in enumerate(turns):
        if (role == "user") != ((i + offset) % 2 == 0):
            raise Rejected(_ALTERNATE)
        if i == 0:
            out.append("<s>")
        out.append("Source: " + role + "\n\n " + content.strip() + " <step> ")
    out.append("Source: assistant\nDestination: user\n\n ")
    return "".join(out)


# --- Llama 3 / 3.1 ------------------------------------------------------------------------------


def _llama3(turns: list[Turn], gen: bool) -> str:
    out = [
        "<|start_header_id|>" + role + "<|end_header_id|>\n\n" + content.strip() + "<|eot_id|>"
        for role, content, _ in turns
    ]
    if gen:
        out.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(out)


def _llama31(turns: list[Turn], gen: bool) -> str:
    # Always a system header with the knowledge/"today" dates (date_string defaults to
    # "26 Jul 2024"). Tool/ipython results go under an "ipython" header and, because a Jinja
    # string is "iterable", through tojson: a string result arrives JSON-quoted.
    if _first_is_system(turns):
        system = turns[0][1].strip()
        turns = turns[1:]
    else:
        system = ""
    out = [
        "<|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" + system + "<|eot_id|>"
    ]
    for role, content, message in turns:
        if "tool_calls" in message:
            # Present but None (text_turns refuses real tool calls): the official template
            # takes its tool-call branch even so, and fails on len(None).
            raise Rejected("tool_calls is null; the template cannot render this message")
        if role == "tool" or role == "ipython":
            out.append(
                "<|start_header_id|>ipython<|end_header_id|>\n\n"
                + json.dumps(content, ensure_ascii=False)
                + "<|eot_id|>"
            )
        else:
            out.append(
                "<|start_header_id|>"
                + role
                + "<|end_header_id|>\n\n"
                + content.strip()
                + "<|eot_id|>"
            )
    if gen:
        out.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(out)


# --- Mistral / Mixtral ----------------------------------------------------------------------------


def _mistral_v1(turns: list[Turn], gen: bool) -> str:
    # Mistral-7B-Instruct v0.1/v0.2 and Mixtral-8x7B share this ("v1" tokenizer) template: the
    # system prompt joins the FIRST user turn, nothing is stripped, the prompt starts with a space
    # once BOS is left to the server, and add_generation_prompt is ignored.
    if _first_is_system(turns):
        system: str | None = turns[0][1]
        turns = turns[1:]
    else:
        system = None
    out: list[str] = []
    for i, (role, content, _) in enumerate(turns):
        is_user = role == "user"
        if is_user != (i % 2 == 0):
            raise Rejected(_ALTERNATE_AFTER_SYSTEM)
        if is_user:
            if i == 0 and system is not None:
                out.append(" [INST] " + system + "\n\n" + content + " [/INST]")
            else:
                out.append(" [INST] " + content + " [/INST]")
        elif role == "assistant":
            out.append(" " + content + "</s>")
        else:
            raise Rejected(_ONLY_USER_ASSISTANT)
    return "".join(out)


_TOOL_ID = "Tool call IDs should be alphanumeric strings with length 9!"


def _mistral_v3(turns: list[Turn], gen: bool) -> str:
    # The system prompt joins the LAST message when that is a user turn and is silently dropped
    # otherwise; no space before [/INST]; assistant content is stripped; tool results are
    # skipped by the alternation check.
    if _first_is_system(turns):
        system: str | None = turns[0][1]
        turns = turns[1:]
    else:
        system = None
    index = 0
    for role, _, _ in turns:
        if role != "tool" and role != "tool_results":
            if (role == "user") != (index % 2 == 0):
                raise Rejected(_ALTERNATE_AFTER_SYSTEM)
            index += 1
    out: list[str] = []
    last = len(turns) - 1
    for i, (role, content, message) in enumerate(turns):
        if role == "user":
            if i == last and system is not None:
                out.append("[INST] " + system + "\n\n" + content + "[/INST]")
            else:
                out.append("[INST] " + content + "[/INST]")
        elif role == "assistant":
            out.append(" " + content.strip() + "</s>")
        elif role == "tool" or role == "tool_results":
            out.append('[TOOL_RESULTS] {"content": ' + content + ", ")
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or len(call_id) != 9:
                raise Rejected(_TOOL_ID)
            out.append('"call_id": "' + call_id + '"}[/TOOL_RESULTS]')
        else:
            raise Rejected(_ONLY_USER_ASSISTANT)
    return "".join(out)


# --- ChatML and relatives -------------------------------------------------------------------------


def _chatml(turns: list[Turn], gen: bool) -> str:
    # Canonical ChatML: any role name verbatim, no default system prompt. Nous-Hermes-2 is the
    # same once its leading {{bos_token}} is left to the server.
    out = ["<|im_start|>" + role + "\n" + content + "<|im_end|>\n" for role, content, _ in turns]
    if gen:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


_QWEN2_SYSTEM = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
_QWEN25_SYSTEM = (
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    "<|im_end|>\n"
)


def _qwen2(turns: list[Turn], gen: bool) -> str:
    # ChatML with a default system prompt, injected inside the loop (so not for zero messages).
    out = [_QWEN2_SYSTEM] if turns and turns[0][0] != "system" else []
    out.extend(
        "<|im_start|>" + role + "\n" + content + "<|im_end|>\n" for role, content, _ in turns
    )
    if gen:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


def _qwen25(turns: list[Turn], gen: bool) -> str:
    # ChatML with Qwen's default system prompt; a leading system message replaces it, later ones
    # render in place; consecutive tool results share one "user" turn of <tool_response> blocks;
    # other roles are dropped.
    if _first_is_system(turns):
        out = ["<|im_start|>system\n" + turns[0][1] + "<|im_end|>\n"]
    else:
        out = [_QWEN25_SYSTEM]
    last = len(turns) - 1
    for i, (role, content, _) in enumerate(turns):
        if role == "user" or role == "assistant" or (role == "system" and i != 0):
            out.append("<|im_start|>" + role + "\n" + content + "<|im_end|>\n")
        elif role == "tool":
            if i == 0 or turns[i - 1][0] != "tool":
                out.append("<|im_start|>user")
            out.append("\n<tool_response>\n" + content + "\n</tool_response>")
            if i == last or turns[i + 1][0] != "tool":
                out.append("<|im_end|>\n")
    if gen:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


def _yi(turns: list[Turn], gen: bool) -> str:
    # A leading system prompt is emitted raw (no ChatML wrapper); every user turn already opens
    # the assistant turn, so add_generation_prompt is ignored; other roles are dropped.
    out = [turns[0][1]] if _first_is_system(turns) else []
    for role, content, _ in turns:
        if role == "user":
            out.append("<|im_start|>user\n" + content + "<|im_end|>\n<|im_start|>assistant\n")
        elif role == "assistant":
            out.append(content + "<|im_end|>\n")
    return "".join(out)


# --- Others ---------------------------------------------------------------------------------------

_ZEPHYR_TAGS = {"user": "<|user|>\n", "system": "<|system|>\n", "assistant": "<|assistant|>\n"}


def _zephyr(turns: list[Turn], gen: bool) -> str:
    # The generation prompt lives inside the loop (loop.last): zero messages render nothing.
    tags = _ZEPHYR_TAGS
    out: list[str] = []
    for role, content, _ in turns:
        tag = tags.get(role)
        if tag is not None:
            out.append(tag + content + "</s>\n")
    if gen and turns:
        out.append("<|assistant|>\n")
    return "".join(out)


_VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the user's questions."
)


def _vicuna(turns: list[Turn], gen: bool) -> str:
    # FastChat's vicuna_v1.1 conversation: never raises; the separator depends on the position,
    # not the role; every role but "user" is labelled ASSISTANT; empty content drops the space.
    if _first_is_system(turns):
        system = turns[0][1]
        turns = turns[1:]
    else:
        system = _VICUNA_SYSTEM
    out = [system + " "]
    for i, (role, content, _) in enumerate(turns):
        label = "USER" if role == "user" else "ASSISTANT"
        if content:
            out.append(label + ": " + content + (" " if i % 2 == 0 else "</s>"))
        else:
            out.append(label + ":")
    if gen:
        out.append("ASSISTANT:")
    return "".join(out)


def _falcon_clean(content: str) -> str:
    # The official template reads .replace('\r\n', '\n'), but Jinja normalises newlines in the
    # template source, string literals included, so that call is replace('\n', '\n'): a no-op.
    return content.strip().replace("\n\n", "\n")


def _falcon(turns: list[Turn], gen: bool) -> str:
    if _first_is_system(turns):
        system = turns[0][1]
        turns = turns[1:]
    else:
        system = ""
    out: list[str] = []
    for i, (role, content, _) in enumerate(turns):
        if (role == "user") != (i % 2 == 0):
            raise Rejected(_ALTERNATE)
        if i == 0:
            out.append(system.strip())
        if role == "user":
            out.append("\n\nUser: " + _falcon_clean(content))
        elif role == "assistant":
            out.append("\n\nAssistant: " + _falcon_clean(content))
    if gen:
        out.append("\n\nAssistant:")
    return "".join(out)


def _gemma(turns: list[Turn], gen: bool) -> str:
    # No system role at all; "assistant" is spelled "model"; contents are stripped. A system
    # message at an odd position passes the alternation check and renders as role "system".
    if _first_is_system(turns):
        raise Rejected("System role not supported")
    out: list[str] = []
    for i, (role, content, _) in enumerate(turns):
        if (role == "user") != (i % 2 == 0):
            raise Rejected(_ALTERNATE)
        if role == "assistant":
            role = "model"
        out.append("<start_of_turn>" + role + "\n" + content.strip() + "<end_of_turn>\n")
    if gen:
        out.append("<start_of_turn>model\n")
    return "".join(out)


_PHI3_TAGS = {"system": "<|system|>\n", "user": "<|user|>\n", "assistant": "<|assistant|>\n"}


def _phi3(turns: list[Turn], gen: bool) -> str:
    # Without a generation prompt the template closes with eos_token instead.
    tags = _PHI3_TAGS
    out: list[str] = []
    for role, content, _ in turns:
        tag = tags.get(role)
        if tag is not None:
            out.append(tag + content + "<|end|>\n")
    out.append("<|assistant|>\n" if gen else "<|endoftext|>")
    return "".join(out)


def _phi35(turns: list[Turn], gen: bool) -> str:
    # Phi-3 with one difference: a system message with empty content is dropped.
    tags = _PHI3_TAGS
    out: list[str] = []
    for role, content, _ in turns:
        if role == "system" and not content:
            continue
        tag = tags.get(role)
        if tag is not None:
            out.append(tag + content + "<|end|>\n")
    out.append("<|assistant|>\n" if gen else "<|endoftext|>")
    return "".join(out)


def _ds(name: str) -> str:
    """A DeepSeek special token: full-width bars (U+FF5C) and U+2581 for each underscore."""
    return "<\uff5c" + name.replace("_", "\u2581") + "\uff5c>"


_DS_BOS = _ds("begin_of_sentence")
_DS_EOS = _ds("end_of_sentence")
_DS_USER = _ds("User")
_DS_ASSISTANT = _ds("Assistant")
_DS_OUTPUTS_BEGIN = _ds("tool_outputs_begin")
_DS_OUTPUTS_END = _ds("tool_outputs_end")
_DS_OUTPUT_BEGIN = _ds("tool_output_begin")
_DS_OUTPUT_END = _ds("tool_output_end")


def _deepseek_llm(turns: list[Turn], gen: bool) -> str:
    out: list[str] = []
    for role, content, _ in turns:
        if role == "user":
            out.append("User: " + content + "\n\n")
        elif role == "assistant":
            out.append("Assistant: " + content + _DS_EOS)
        elif role == "system":
            out.append(content + "\n\n")
    if gen:
        out.append("Assistant:")
    return "".join(out)


def _deepseek_v3(turns: list[Turn], gen: bool) -> str:
    # Every system message, wherever it is, is hoisted to the front and joined with blank lines.
    systems = [content for role, content, _ in turns if role == "system"]
    out = ["\n\n".join(systems)]
    is_tool = False
    first_output = True
    for role, content, _ in turns:
        if role == "user":
            is_tool = False
            out.append(_DS_USER + content)
        elif role == "assistant":
            if is_tool:
                out.append(_DS_OUTPUTS_END + content + _DS_EOS)
                is_tool = False
            else:
                out.append(_DS_ASSISTANT + content + _DS_EOS)
        elif role == "tool":
            is_tool = True
            if first_output:
                out.append(_DS_OUTPUTS_BEGIN + _DS_OUTPUT_BEGIN + content)
                first_output = False
            else:
                out.append("\n" + _DS_OUTPUT_BEGIN + content)
            out.append(_DS_OUTPUT_END)
    if is_tool:
        out.append(_DS_OUTPUTS_END)
    elif gen:
        out.append(_DS_ASSISTANT)
    return "".join(out)


# --- the table ------------------------------------------------------------------------------------


def _builtin(
    name: str, family: Family, bos: str, eos: str, stop: tuple[str, ...]
) -> PromptTemplate:
    def render(messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool) -> str:
        turns = text_turns(messages, name)
        try:
            return family(turns, add_generation_prompt)
        except Rejected as exc:
            raise PromptTemplateError(exc.reason, template=name) from None

    return PromptTemplate(
        name=name, stop=stop, bos_token=bos, eos_token=eos, kind="builtin", _renderer=render
    )


_S = "</s>"
_IM_END = "<|im_end|>"
_EOT = "<|eot_id|>"

#: family -> (renderer, bos_token, eos_token, stop). Tokens are the model's, from its tokenizer
#: config; ``render`` leaves BOS to the server.
_TABLE: dict[str, tuple[Family, str, str, tuple[str, ...]]] = {
    "llama-2-chat": (_llama2, "<s>", _S, (_S,)),
    "codellama-instruct": (_llama2, "<s>", _S, (_S,)),
    "codellama-70b-instruct": (_codellama_70b, "<s>", _S, ("<step>", _S)),
    "llama-3-instruct": (_llama3, "<|begin_of_text|>", _EOT, (_EOT,)),
    "llama-3.1-instruct": (_llama31, "<|begin_of_text|>", _EOT, (_EOT, "<|eom_id|>")),
    "mistral-7b-instruct-v0.1": (_mistral_v1, "<s>", _S, (_S,)),
    "mistral-7b-instruct-v0.2": (_mistral_v1, "<s>", _S, (_S,)),
    "mistral-7b-instruct-v0.3": (_mistral_v3, "<s>", _S, (_S,)),
    "mixtral-8x7b-instruct-v0.1": (_mistral_v1, "<s>", _S, (_S,)),
    "chatml-oasst-llama2-70b-sft-v10": (_chatml, "<|im_start|>", _IM_END, (_IM_END,)),
    "qwen2-instruct": (_qwen2, "", _IM_END, (_IM_END,)),
    "qwen2.5-instruct": (_qwen25, "", _IM_END, (_IM_END,)),
    "nous-hermes-2-chatml": (_chatml, "<s>", _IM_END, (_IM_END,)),
    "yi-chat": (_yi, "<|startoftext|>", _IM_END, (_IM_END,)),
    "zephyr": (_zephyr, "<s>", _S, (_S,)),
    "vicuna-v1.5": (_vicuna, "<s>", _S, (_S,)),
    "falcon-instruct": (_falcon, "", "<|endoftext|>", ("<|endoftext|>", "\nUser:")),
    "gemma-it": (_gemma, "<bos>", "<eos>", ("<end_of_turn>",)),
    "gemma-2-it": (_gemma, "<bos>", "<eos>", ("<end_of_turn>",)),
    "phi-3-mini": (_phi3, "<s>", "<|endoftext|>", ("<|end|>", "<|endoftext|>")),
    "phi-3.5-mini": (_phi35, "<s>", "<|endoftext|>", ("<|end|>", "<|endoftext|>")),
    "deepseek-llm-chat": (_deepseek_llm, _DS_BOS, _DS_EOS, (_DS_EOS,)),
    "deepseek-v3": (_deepseek_v3, _DS_BOS, _DS_EOS, (_DS_EOS,)),
}

#: The canonical template of each family, named exactly as templates.json names the family.
FAMILIES: dict[str, PromptTemplate] = {
    name: _builtin(name, family, bos, eos, stop)
    for name, (family, bos, eos, stop) in _TABLE.items()
}

#: Short names. Each maps to one family; see docs/prompt-templates.md for why that one.
ALIASES: dict[str, str] = {
    "llama-2": "llama-2-chat",
    "codellama": "codellama-instruct",
    "codellama-70b": "codellama-70b-instruct",
    "llama-3": "llama-3-instruct",
    "llama-3.1": "llama-3.1-instruct",
    # v0.1, v0.2 and Mixtral-8x7B share one template; v0.3 has its own.
    "mistral": "mistral-7b-instruct-v0.2",
    "mistral-v0.1": "mistral-7b-instruct-v0.1",
    "mistral-v0.2": "mistral-7b-instruct-v0.2",
    "mistral-v0.3": "mistral-7b-instruct-v0.3",
    "mixtral": "mixtral-8x7b-instruct-v0.1",
    "chatml": "chatml-oasst-llama2-70b-sft-v10",
    "oasst": "chatml-oasst-llama2-70b-sft-v10",
    "qwen2": "qwen2-instruct",
    "qwen2.5": "qwen2.5-instruct",
    "nous-hermes-2": "nous-hermes-2-chatml",
    "yi": "yi-chat",
    "vicuna": "vicuna-v1.5",
    "falcon": "falcon-instruct",
    "gemma": "gemma-it",
    "gemma-2": "gemma-2-it",
    "phi-3": "phi-3-mini",
    "phi-3.5": "phi-3.5-mini",
    "deepseek": "deepseek-v3",
    "deepseek-llm": "deepseek-llm-chat",
    "deepseek-v2": "deepseek-llm-chat",
}

#: Every built-in name (families and aliases) -> template. Aliases share the family's object,
#: so ``get_template("llama-2").name == "llama-2-chat"``.
BUILTINS: dict[str, PromptTemplate] = {
    **FAMILIES,
    **{alias: FAMILIES[family] for alias, family in ALIASES.items()},
}
