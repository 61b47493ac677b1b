"""Library messages in the words of the command line.

Library errors name Python parameters (``replace=True``, ``tolerance = -1``)
so that they read right to a Python caller. The CLI prints them with the
current command's flags instead (``--replace``, ``--tolerance -1``), using
the click context's parameters: only names the command has are rewritten.
Parameters are read by duck typing (``name``, ``opts``, ``secondary_opts``,
``is_flag``, ``param_type_name``): typer >= 0.2x vendors its own click.
"""

from __future__ import annotations

import re

# library parameter name -> the CLI parameter that carries it, where the two differ
LIBRARY_NAMES = {"lattice_side": "lattice", "method": "overlap", "overwrite": "replace"}

_ASSIGNMENT = re.compile(r"(?<![\w.\-])([A-Za-z_]\w*)\s*=\s*(?!=)")
_LEADING = re.compile(r"^([A-Za-z_]\w*):")  # "checkpoints: no checkpoint at step 5000"
_SNAKE = re.compile(r"(?<![\w.\-])([a-z]+(?:_[a-z]+)+)(?![\w\-(])")  # a bare parameter name such as lattice_side
_VALUE = re.compile(r"""('[^']*'|"[^"]*"|\[[^\]]*\]|[^\s,;:)]+)""")


def _parameters(params) -> dict:
    """Parameter name -> click option or argument of a command."""
    return {p.name: p for p in params if getattr(p, "param_type_name", "") in ("option", "argument") and p.opts}


def to_flags(message: str, params) -> str:
    """``message`` with ``name=value`` / ``name = value`` of the command's parameters written as flags.

    A boolean flag given as ``name=True`` becomes ``--flag`` (``name=False`` its ``--no-flag`` form where
    it has one); any other ``name=value`` or ``name = value`` becomes ``--flag value``, or ``NAME value``
    for a positional argument. Names the command does not have (and those inside a longer dotted or
    dashed word, such as config keys ``data.sigma=3``) are left alone.
    """
    options = _parameters(params)
    out, pos = [], 0
    for m in _ASSIGNMENT.finditer(message):
        name = m.group(1)
        opt = options.get(LIBRARY_NAMES.get(name, "")) or options.get(name)
        if opt is None or m.start() < pos:
            continue
        value = _VALUE.match(message, m.end())
        if value is None:
            continue
        text, end = value.group(1), value.end()
        if opt.param_type_name == "argument":
            out.append(f"{message[pos:m.start()]}{opt.metavar or opt.name.upper()} {text}")
            pos = end
            continue
        flag = opt.opts[0] if opt.opts[0].startswith("--") else max(opt.opts, key=len)
        if getattr(opt, "is_flag", False) and text in ("True", "False"):
            if text == "True":
                replacement = flag
            elif opt.secondary_opts:
                replacement = opt.secondary_opts[0]
            else:
                continue
        else:
            replacement = f"{flag} {text}"
        out.append(message[pos:m.start()] + replacement)
        pos = end
    return "".join(out) + message[pos:]


def current_context():
    """The click context of the command being run (None outside one)."""
    try:
        from typer._click.globals import get_current_context  # typer >= 0.2x: its own copy of click
    except ImportError:
        from click import get_current_context
    return get_current_context(silent=True)


def _flag(options: dict, name: str) -> str | None:
    opt = options.get(LIBRARY_NAMES.get(name, "")) or options.get(name)
    if opt is None or opt.param_type_name != "option":
        return None
    return opt.opts[0] if opt.opts[0].startswith("--") else max(opt.opts, key=len)


def names_to_flags(message: str, params) -> str:
    """A leading ``name:`` and bare snake_case parameter names (``lattice_side``) written as the command's flags."""
    options = _parameters(params)
    lead = _LEADING.match(message)
    if lead and (flag := _flag(options, lead.group(1))):
        message = flag + message[lead.end(1):]
    return _SNAKE.sub(lambda m: _flag(options, m.group(1)) or m.group(1), message)


def cli_message(message: str, ctx=None) -> str:
    """A library message in the flags of ``ctx``'s command (the current click context by default)."""
    ctx = ctx or current_context()
    if ctx is None or ctx.command is None:
        return message
    return names_to_flags(to_flags(message, ctx.command.params), ctx.command.params)
