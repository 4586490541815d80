"""Put a model to work: serve it over HTTP, or export it to ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from handful.cli.options import ModelFolder, Quiet
from handful.cli.output import console, fail, setup


def serve(
    model: Annotated[Path, typer.Argument(help="A saved model folder, a folder whose sub-folders are models, or a "
                                               "model registry root (its promoted versions, kept current).")],
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    quiet: Quiet = False,
) -> None:
    """Serve MODEL over HTTP: a test page at /, the API under /v1, its schema at /openapi.json.

    Settings from the environment: HANDFUL_API_KEY (then every /v1 call needs the X-API-Key header),
    HANDFUL_MAX_UPLOAD_MB, HANDFUL_MAX_BATCH, HANDFUL_MAX_TEXT_CHARS, HANDFUL_MAX_IMAGE_PIXELS,
    HANDFUL_MAX_AUDIO_SECONDS. Docs work offline at /docs and /redoc.
    """
    setup(quiet)
    import uvicorn

    from handful.serve import create_app

    try:
        api = create_app(model)
    except (ValueError, TypeError, FileNotFoundError) as error:
        fail(str(error))
    try:  # bound here, before anything says it is serving: a busy port is an error in words, and nothing else
        listener = listen(host, port)
    except OSError as error:
        fail(f"cannot listen on {host}:{port}: {error.strerror or error}. Another program (perhaps another handful "
             f"serve) uses that port: stop it, or give another one with --port.")
    if not quiet:
        console.print(f"Serving on [bold]http://{host}:{port}/[/] (API docs: /docs, schema: /openapi.json)")
    server = uvicorn.Server(uvicorn.Config(api, log_level="warning" if quiet else "info"))
    server.run(sockets=[listener])


def listen(host: str, port: int) -> Any:
    """A listening TCP socket on ``host:port``, made with protocol ``IPPROTO_TCP`` so that asyncio turns Nagle's
    algorithm off on every connection it accepts (it checks the protocol; ``socket.create_server`` leaves it 0).
    With Nagle on, each answer after the first on a kept-alive connection waited ~40 ms for the client's
    delayed ACK: 44 ms for /healthz instead of 2 (measured)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listener.bind((host, port))
        listener.listen(2048)
    except OSError:
        listener.close()
        raise
    return listener


def export(
    model: ModelFolder,
    format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="The file to write (default: MODEL.onnx).")] = None,
    sample: Annotated[list[str] | None, typer.Option(
        "--sample", help="An input (image file, or text) for the parity check; repeat it. Default: generated.")] = None,
    tolerance: Annotated[float, typer.Option(help="Largest accepted difference in probabilities.")] = 1e-4,
    quiet: Quiet = False,
) -> None:
    """Export MODEL (backbone + head) to ONNX with a JSON sidecar for runners, checked against PyTorch."""
    setup(quiet)
    from handful.export import MissingExportDependencyError, ParityError, export_onnx

    if format != "onnx":
        fail(f"unknown export format {format!r}; the only one is onnx (--format onnx).")
    try:
        result = export_onnx(model, out, sample or None, tolerance)
    except (MissingExportDependencyError, ParityError, ValueError, FileNotFoundError, OSError) as error:
        fail(str(error))
    if not quiet:
        console.print(f"Exported to [bold]{result.path}[/] ({result.bytes / 1e6:.1f} MB, {result.seconds:.1f} s); "
                      f"runner metadata in {result.sidecar}")
    console.print(f"Parity with PyTorch on {result.n_checked} inputs: largest absolute difference in probabilities "
                  f"{result.max_abs_diff:.2e} (tolerance {result.tolerance:.0e})", highlight=False)

