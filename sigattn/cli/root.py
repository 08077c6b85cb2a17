"""The `sigattn` typer app, its root options, and the one-line error handling every command shares."""

from __future__ import annotations

import errno
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from sigattn.errors import SigattnError

app = typer.Typer(
    help="Attention-augmented 1D CNNs for vibration and ECG classification.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # help texts contain literal [default: ...] brackets
)


STATE = {"debug": False}  # set by the root callback on every invocation


def _print_version(value: bool) -> None:
    if value:
        from sigattn import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="On an error, show the full traceback instead of one line.")
    ] = False,
) -> None:
    """Attention-augmented 1D CNNs for vibration and ECG classification."""
    STATE["debug"] = debug


_OS_HINTS = {
    errno.ENOENT: "expected an existing file or folder",
    errno.EACCES: "expected a path this user may read and write",
    errno.EPERM: "expected a path this user may read and write",
    errno.ENOSPC: "free some space or choose another folder",
    errno.EDQUOT: "free some space or choose another folder",
    errno.EROFS: "expected a writable file system",
    errno.EISDIR: "expected a file, not a folder",
    errno.ENOTDIR: "a part of the path is a file; expected a folder",
    errno.EEXIST: "expected a folder; a file of that name exists",
}


def _one_line(error: SigattnError | OSError) -> str:
    """The message of a SigattnError, or `<file>: <what>; <expected>` for an OSError."""
    if isinstance(error, SigattnError):
        text = str(error)
    else:
        what = error.strerror or str(error) or type(error).__name__
        hint = _OS_HINTS.get(error.errno or 0)
        text = f"{error.filename}: {what}" if error.filename else what
        text += f"; {hint}" if hint else ""
    return " ".join(text.split())


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a SigattnError (bad input, named) or an OSError (disk full, permissions) into one red line
    on stderr and exit code 1; with --debug, let it raise with its traceback. Anything else is a bug
    and keeps its traceback. A DataWarning (data left out) is one yellow `warning:` line."""
    from sigattn.data.wfdb_records import DataWarning

    shown = warnings.showwarning

    def one_line(message, category, *args, **kwargs) -> None:  # noqa: ANN001 (warnings.showwarning's signature)
        if issubclass(category, DataWarning):
            typer.secho(f"warning: {' '.join(str(message).split())}", err=True, fg=typer.colors.YELLOW)
        else:
            shown(message, category, *args, **kwargs)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line
            yield
    except (SigattnError, OSError) as error:
        if STATE["debug"]:
            raise
        typer.secho(f"Error: {_one_line(error)}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from None


def positive(value: int) -> int:
    if value < 1:
        raise typer.BadParameter(f"expected a positive integer; got {value}")
    return value


def main() -> None:
    """The `sigattn` command: as `app`, but a usage error (exit 2) is one line on stderr too."""
    # typer bundles its own click; its exception classes are reached through a public one
    found = {c.__name__: c for c in typer.BadParameter.__mro__}
    usage_error, click_exception = found["UsageError"], found["ClickException"]
    try:
        code = app(prog_name="sigattn", standalone_mode=False)
    except usage_error as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # bare `sigattn`: the help, as before
            typer.echo(error.format_message())
            raise SystemExit(2) from None
        typer.secho(f"Error: {' '.join(error.format_message().split())}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None
    except click_exception as error:
        error.show()
        raise SystemExit(error.exit_code) from None
    except typer.Abort:
        typer.secho("Aborted.", err=True)
        raise SystemExit(130) from None
    raise SystemExit(code if isinstance(code, int) else 0)
