"""What ``optimize`` records in ``cli.json``, and how ``--resume`` trusts it.

A run directory is data from elsewhere: it gets shared, downloaded and committed. So:

- nothing secret is ever recorded: a model URL with a password or a query, or a model option
  named like a key (``api_key``, ``token`` ...), is refused before the run starts (the key
  belongs in the environment, ``OPENAI_API_KEY`` or the provider's variable);
- ``cli.json`` is checked key by key (a corrupt or hand-edited file is one line of error);
- a recorded API endpoint (``openai:M@URL``, ``base_url=``/``api_base=``) would receive the
  user's key, so ``--resume`` goes there only if this command line names it: the same
  ``--model``/``--proposer``/``--model-option``, or ``--allow-endpoint URL``. Default endpoints
  (the provider's own API, or ``$OPENAI_BASE_URL``) come from the user's environment and need
  no confirmation; local engines send nothing anywhere.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlsplit

from promptlift.backends.openai import public_url
from promptlift.commands.common import key_values
from promptlift.errors import ConfigError

CLI_FILE = "cli.json"
API_ENGINES = ("openai", "litellm")
URL_OPTIONS = ("base_url", "api_base")
_SECRET_OPTION = re.compile(r"(key|token|secret|password|passwd|auth)", re.IGNORECASE)
_SPEC_URL = re.compile(r"^[^:]+:.+?@(?P<url>https?://\S+)$")

# the type each recorded flag must have (None allowed where the flag is optional)
TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "task": ((str,), False), "input_fields": ((str,), True), "output_field": ((str,), True),
    "metric": ((str,), True), "choices": ((str,), True), "sizes": ((str,), True), "model": ((str,), False),
    "model_option": ((list,), False), "proposer": ((str,), True), "optimizer": ((str,), False),
    "param": ((list,), False), "budget": ((int,), False), "max_seconds": ((int, float), True),
    "max_tokens": ((int,), True), "seed": ((int,), False), "no_cache": ((bool,), False),
}


def load_saved(run_dir: str) -> dict[str, Any]:
    """``RUN_DIR/cli.json``, every recorded flag checked for presence and type."""
    path = Path(run_dir) / CLI_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: not found; --resume needs a run directory written by 'promptlift optimize'")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({str(exc)[:120]})") from None
    if not isinstance(saved, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(saved).__name__}")
    for name, (types, optional) in TYPES.items():
        if name not in saved:
            raise ConfigError(f"{path}: {name!r} is missing")
        value = saved[name]
        ok = (value is None and optional) or (isinstance(value, types) and (bool not in types) == (type(value) is not bool))
        if name in ("model_option", "param") and ok:
            ok = all(isinstance(v, str) for v in value)
        if not ok:
            raise ConfigError(f"{path}: {name!r} has the wrong type ({type(value).__name__}: {str(value)[:60]!r})")
    return saved


def refuse_secrets(args: argparse.Namespace) -> None:
    """No key, password or credential-bearing URL may reach cli.json (or any file)."""
    for flag, spec in (("--model", args.model), ("--proposer", args.proposer)):
        if spec:
            _check_url(flag, _spec_url(spec) or "")
    for pair in args.model_option or []:
        name = pair.partition("=")[0].strip()
        if _SECRET_OPTION.search(name):
            raise ConfigError(f"--model-option {name}=... would be written to cli.json; give the key in the "
                              "environment instead (OPENAI_API_KEY, or the provider's variable for litellm)")
    for name, value in key_values(args.model_option or [], "--model-option").items():
        if name in URL_OPTIONS:
            _check_url(f"--model-option {name}", str(value))


def unconfirmed_endpoints(saved: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The API endpoints ``saved`` would send the key to that this command line does not name."""
    named = set(getattr(args, "allow_endpoint", None) or [])
    named = {_public(u) for u in named}
    given = endpoints(args.model, args.proposer, args.model_option or [])
    recorded = endpoints(saved["model"], saved["proposer"], saved["model_option"])
    return sorted(set(recorded) - set(given) - named)


def endpoints(model: str, proposer: str | None, options: Sequence[str]) -> list[str]:
    """The explicit API endpoints (public form) of a model, a proposer and their options."""
    values = key_values(options, "--model-option")
    out = []
    for spec in (model, proposer):
        if not spec or spec.partition(":")[0] not in API_ENGINES:
            continue
        urls = [_spec_url(spec)] + [str(values[k]) for k in URL_OPTIONS if k in values]
        out += [_public(u) for u in urls if u]
    return out


def _spec_url(spec: str) -> str | None:
    match = _SPEC_URL.match(spec)
    return match["url"] if match else None


def _public(url: str) -> str:
    return public_url(url)  # ConfigError for a malformed URL


def _check_url(flag: str, url: str) -> None:
    if not url:
        return
    _public(url)
    parts = urlsplit(url)
    if parts.username or parts.password or parts.query:
        raise ConfigError(f"{flag}: the URL carries credentials or a query ({_public(url)}...); it would be written "
                          "to cli.json: give the key in the environment (OPENAI_API_KEY) instead")
