"""User registrations and the mapping from model ids to built-in templates.

Resolution order for a model id: the user's registration, then the table of known model ids,
then family rules (patterns on the lowercased id). Names compare case-insensitively, and a
leading ``provider/`` prefix is ignored in either direction.

Registrations live in an immutable snapshot that mutations replace under a lock, so the hot path
(one lookup per request) reads without locking and never sees a half-applied change.
"""

from __future__ import annotations

import re
import threading
from types import MappingProxyType

from llmrouter.errors import PromptTemplateError
from llmrouter.templates.base import PromptTemplate
from llmrouter.templates.builtin import BUILTINS, FAMILIES
from llmrouter.templates.custom import argument_error, build_custom

__all__ = [
    "KNOWN_MODELS",
    "MODELS_BY_FAMILY",
    "find_registration",
    "known_model_template",
    "register",
    "registered",
    "unregister",
]

# --- known model ids ----------------------------------------------------------------------------

#: family -> model ids using that family's template: every id in templates.json plus the names
#: under which Together AI serves the same weights (older ``togethercomputer/...`` and ``-Turbo``
#: / ``-Lite`` variants included).
MODELS_BY_FAMILY: dict[str, tuple[str, ...]] = {
    "llama-2-chat": (
        "meta-llama/Llama-2-7b-chat-hf",
        "meta-llama/Llama-2-13b-chat-hf",
        "meta-llama/Llama-2-70b-chat-hf",
        "togethercomputer/llama-2-7b-chat",
        "togethercomputer/llama-2-13b-chat",
        "togethercomputer/llama-2-70b-chat",
    ),
    "codellama-instruct": (
        "codellama/CodeLlama-7b-Instruct-hf",
        "codellama/CodeLlama-13b-Instruct-hf",
        "codellama/CodeLlama-34b-Instruct-hf",
        "togethercomputer/CodeLlama-7b-Instruct",
        "togethercomputer/CodeLlama-13b-Instruct",
        "togethercomputer/CodeLlama-34b-Instruct",
    ),
    "codellama-70b-instruct": ("codellama/CodeLlama-70b-Instruct-hf",),
    "llama-3-instruct": (
        "meta-llama/Meta-Llama-3-8B-Instruct",
        "meta-llama/Meta-Llama-3-70B-Instruct",
        "meta-llama/Llama-3-8b-chat-hf",
        "meta-llama/Llama-3-70b-chat-hf",
        "meta-llama/Meta-Llama-3-8B-Instruct-Turbo",
        "meta-llama/Meta-Llama-3-70B-Instruct-Turbo",
        "meta-llama/Meta-Llama-3-8B-Instruct-Lite",
        "meta-llama/Meta-Llama-3-70B-Instruct-Lite",
    ),
    "llama-3.1-instruct": (
        "meta-llama/Llama-3.1-8B-Instruct",
        "meta-llama/Llama-3.1-70B-Instruct",
        "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "meta-llama/Meta-Llama-3.1-70B-Instruct",
        "meta-llama/Meta-Llama-3.1-405B-Instruct",
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo",
        "meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo",
    ),
    "mistral-7b-instruct-v0.1": ("mistralai/Mistral-7B-Instruct-v0.1",),
    "mistral-7b-instruct-v0.2": ("mistralai/Mistral-7B-Instruct-v0.2",),
    "mistral-7b-instruct-v0.3": ("mistralai/Mistral-7B-Instruct-v0.3",),
    "mixtral-8x7b-instruct-v0.1": ("mistralai/Mixtral-8x7B-Instruct-v0.1",),
    "chatml-oasst-llama2-70b-sft-v10": (
        "OpenAssistant/llama2-70b-oasst-sft-v10",
        "teknium/OpenHermes-2.5-Mistral-7B",
    ),
    "qwen2-instruct": ("Qwen/Qwen2-7B-Instruct", "Qwen/Qwen2-72B-Instruct"),
    "qwen2.5-instruct": (
        "Qwen/Qwen2.5-0.5B-Instruct",
        "Qwen/Qwen2.5-1.5B-Instruct",
        "Qwen/Qwen2.5-3B-Instruct",
        "Qwen/Qwen2.5-7B-Instruct",
        "Qwen/Qwen2.5-14B-Instruct",
        "Qwen/Qwen2.5-32B-Instruct",
        "Qwen/Qwen2.5-72B-Instruct",
        "Qwen/Qwen2.5-7B-Instruct-Turbo",
        "Qwen/Qwen2.5-72B-Instruct-Turbo",
    ),
    "nous-hermes-2-chatml": ("NousResearch/Nous-Hermes-2-Mixtral-8x7B-DPO",),
    "yi-chat": (
        "01-ai/Yi-1.5-34B-Chat",
        "01-ai/Yi-6B-Chat",
        "01-ai/Yi-34B-Chat",
        "zero-one-ai/Yi-34B-Chat",
    ),
    "zephyr": ("HuggingFaceH4/zephyr-7b-beta", "TinyLlama/TinyLlama-1.1B-Chat-v1.0"),
    "vicuna-v1.5": ("lmsys/vicuna-7b-v1.5", "lmsys/vicuna-13b-v1.5"),
    "falcon-instruct": ("tiiuae/falcon-7b-instruct", "togethercomputer/falcon-7b-instruct"),
    "gemma-it": ("google/gemma-2b-it", "google/gemma-7b-it"),
    "gemma-2-it": ("google/gemma-2-2b-it", "google/gemma-2-9b-it", "google/gemma-2-27b-it"),
    "phi-3-mini": ("microsoft/Phi-3-mini-4k-instruct", "microsoft/Phi-3-mini-128k-instruct"),
    "phi-3.5-mini": ("microsoft/Phi-3.5-mini-instruct",),
    "deepseek-llm-chat": (
        "deepseek-ai/deepseek-llm-7b-chat",
        "deepseek-ai/deepseek-llm-67b-chat",
        "deepseek-ai/DeepSeek-V2-Lite-Chat",
        "deepseek-ai/DeepSeek-V2-Chat",
    ),
    "deepseek-v3": ("deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-V3-Base"),
}

#: lowercased model id -> family.
KNOWN_MODELS: MappingProxyType[str, str] = MappingProxyType(
    {model.lower(): family for family, models in MODELS_BY_FAMILY.items() for model in models}
)

#: (pattern, family), first match wins, so the specific patterns come first. Deliberately narrow:
#: a model that no pattern names gets an error that says what to pass, never a guess that would
#: send a wrongly formatted prompt. Derivatives whose templates differ (Qwen Math and VL, DeepSeek
#: V2-0628 and V2.5, Mixtral-8x22B, Llama 3.2/3.3) are left out on purpose.
_FAMILY_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), family)
    for pattern, family in (
        (r"codellama-70b-instruct", "codellama-70b-instruct"),
        (r"codellama-\d+b-instruct", "codellama-instruct"),
        (r"llama-?2-[\w.-]*chat", "llama-2-chat"),
        (r"llama-?3\.1-[\w.-]*instruct", "llama-3.1-instruct"),
        (r"llama-?3-[\w.-]*(?:instruct|chat)", "llama-3-instruct"),
        (r"mixtral-8x7b-instruct-v0\.1", "mixtral-8x7b-instruct-v0.1"),
        (r"mistral-7b-instruct-v0\.3", "mistral-7b-instruct-v0.3"),
        (r"mistral-7b-instruct-v0\.2", "mistral-7b-instruct-v0.2"),
        (r"mistral-7b-instruct-v0\.1", "mistral-7b-instruct-v0.1"),
        (r"qwen2\.5-(?!math|vl)[\w.-]*instruct", "qwen2.5-instruct"),
        (r"qwen2-(?!math|vl|audio)[\w.-]*instruct", "qwen2-instruct"),
        (r"nous-hermes-2-", "nous-hermes-2-chatml"),
        (r"openhermes-2", "chatml-oasst-llama2-70b-sft-v10"),
        (r"\byi-[\w.-]*chat", "yi-chat"),
        (r"zephyr-7b", "zephyr"),
        (r"vicuna-\d+b-v1\.5", "vicuna-v1.5"),
        (r"falcon-\d+b-instruct", "falcon-instruct"),
        (r"gemma-2-\d+b-it", "gemma-2-it"),
        (r"gemma-(?:1\.1-)?\d+b-it", "gemma-it"),
        (r"phi-3\.5-mini-instruct", "phi-3.5-mini"),
        (r"phi-3-mini-\d+k-instruct", "phi-3-mini"),
        (r"deepseek-llm-\d+b-chat", "deepseek-llm-chat"),
        (r"deepseek-v2(?:-lite)?-chat$", "deepseek-llm-chat"),
        (r"deepseek-v3(?:-base)?$", "deepseek-v3"),
    )
)


def _suffixes(name: str) -> list[str]:
    """``a/b/c`` -> ``[a/b/c, b/c, c]``: the name, then with each leading prefix removed."""
    out = [name]
    while "/" in name:
        name = name.split("/", 1)[1]
        if name:
            out.append(name)
    return out


def known_model_template(model: str) -> PromptTemplate | None:
    """The built-in template for a known model id, else by family rule, else None."""
    name = model.strip().lower()
    for candidate in _suffixes(name):
        family = KNOWN_MODELS.get(candidate)
        if family is not None:
            return FAMILIES[family]
    for pattern, family in _FAMILY_RULES:
        if pattern.search(name):
            return FAMILIES[family]
    return None


# --- registrations -------------------------------------------------------------------------------


class _Snapshot:
    """Immutable view of the registrations: exact keys plus keys with the provider cut off."""

    __slots__ = ("exact", "originals", "unprefixed")

    def __init__(
        self,
        exact: dict[str, PromptTemplate],
        originals: dict[str, str],
    ) -> None:
        self.exact = exact
        self.originals = originals
        # "together_ai/org/name" is also reachable as "org/name". Only ids with two slashes have
        # a provider prefix to cut: "org/name" must not answer for a bare "name".
        self.unprefixed = {
            key.split("/", 1)[1]: template for key, template in exact.items() if key.count("/") >= 2
        }


_lock = threading.Lock()
_state = _Snapshot({}, {})


def _key(model: object, param: str = "model") -> str:
    if not isinstance(model, str) or not model.strip():
        raise argument_error(
            f"{param} must be a non-empty model name, got {model!r}", param, str(model)
        )
    return model.strip().lower()


def find_registration(model: str) -> PromptTemplate | None:
    """The registration for ``model``: exact name, then without its prefix, then vice versa."""
    state = _state
    if not state.exact:
        return None
    name = model.strip().lower()
    for candidate in _suffixes(name):
        template = state.exact.get(candidate)
        if template is not None:
            return template
    return state.unprefixed.get(name)


def registered() -> dict[str, PromptTemplate]:
    state = _state
    return {state.originals[key]: template for key, template in state.exact.items()}


def unregister(model: str) -> bool:
    global _state
    key = _key(model)
    with _lock:
        if key not in _state.exact:
            return False
        exact = dict(_state.exact)
        originals = dict(_state.originals)
        del exact[key], originals[key]
        _state = _Snapshot(exact, originals)
    return True


def _text_arg(value: object, param: str, model: str) -> str:
    if not isinstance(value, str):
        raise argument_error(f"{param} must be a string, got {type(value).__name__}", param, model)
    return value


def register(
    model: str,
    roles: object = None,
    pre_message_sep: str = "",
    post_message_sep: str = "",
    initial_prompt_value: str = "",
    final_prompt_value: str = "",
    bos_token: str = "",
    eos_token: str = "",
    chat_template: str | None = None,
) -> PromptTemplate:
    global _state
    key = _key(model)
    name = model.strip()
    texts = {
        "pre_message_sep": pre_message_sep,
        "post_message_sep": post_message_sep,
        "initial_prompt_value": initial_prompt_value,
        "final_prompt_value": final_prompt_value,
        "bos_token": bos_token,
        "eos_token": eos_token,
    }
    for param, value in texts.items():
        _text_arg(value, param, name)
    if chat_template is not None:
        _text_arg(chat_template, "chat_template", name)
        if roles is not None:
            raise argument_error(
                "pass either roles (with separators) or chat_template, not both", "roles", name
            )
        for param in ("pre_message_sep", "post_message_sep", "initial_prompt_value"):
            if texts[param]:
                raise argument_error(
                    f"{param} has no effect with chat_template; put it in the template",
                    param,
                    name,
                )
        if final_prompt_value:
            raise argument_error(
                "final_prompt_value has no effect with chat_template; the template's "
                "add_generation_prompt branch plays that part",
                "final_prompt_value",
                name,
            )
        from llmrouter.templates.jinja import build_chat_template  # jinja2 only when needed

        template = build_chat_template(
            name, chat_template, bos_token=bos_token, eos_token=eos_token
        )
    elif roles is None:
        raise argument_error(
            "register_prompt_template needs roles={...} (role -> prefix string, or role -> "
            "{'pre_message': ..., 'post_message': ...}) or chat_template='<jinja>'",
            "roles",
            name,
        )
    else:
        template = build_custom(
            name,
            roles,
            pre_message_sep=pre_message_sep,
            post_message_sep=post_message_sep,
            initial_prompt_value=initial_prompt_value,
            final_prompt_value=final_prompt_value,
            bos_token=bos_token,
            eos_token=eos_token,
        )
    with _lock:
        exact = dict(_state.exact)
        originals = dict(_state.originals)
        exact[key] = template
        originals[key] = name
        _state = _Snapshot(exact, originals)
    return template


def builtin_names() -> list[str]:
    return sorted(BUILTINS)


def unknown_template_error(name: str) -> PromptTemplateError:
    registered_names = sorted(_state.originals.values())
    hint = f"; registered models: {', '.join(registered_names)}" if registered_names else ""
    error = PromptTemplateError(
        f"unknown prompt template {name!r}; built-in templates: {', '.join(builtin_names())}{hint}",
        template=name,
    )
    error.param = "template"
    return error
