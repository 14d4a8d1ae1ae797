"""Regenerate docs/images/test-panel.png: a real TestPanel after a parity check and a load test.

Builds and starts the example's iris model (as `%containerize clf` does), drives the panel from
Python, writes the widget tree as static HTML (the stock widgets' look, no JavaScript needed)
and screenshots it with headless Chromium. Run from the repository root:

    python docs/images/render_test_panel.py
"""

from __future__ import annotations

import base64
import html
import subprocess
import sys
import tempfile
from pathlib import Path

import ipywidgets as widgets
import nbformat

from jupyter_mlcontainer.notebook.instance import ServingInstance
from jupyter_mlcontainer.notebook.magic import live_reference, run_cancellable
from jupyter_mlcontainer.pipeline.kernels import InProcessKernel
from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.shared.terminal import TerminalProgress

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "containerize_magic.ipynb"
OUTPUT = Path(__file__).resolve().parent / "test-panel.png"
CHROMIUM = "/usr/bin/chromium"

STYLE = """
body { font: 13px -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 12px; color: #212121; background: #fff; }
.box { display: flex; box-sizing: border-box; }
.v { flex-direction: column; } .h { flex-direction: row; align-items: flex-start; }
textarea { font: 12px monospace; box-sizing: border-box; border: 1px solid #9e9e9e; padding: 4px; resize: none; }
button { border: 0; background: #eee; padding: 5px 12px; margin: 2px 4px 2px 0; font-size: 13px; box-shadow: 0 1px 2px #0003; }
button.danger { background: #d32f2f; color: #fff; }
label { margin: 0 6px 0 8px; } input { width: 60px; border: 1px solid #9e9e9e; padding: 3px; }
pre { font-size: 12px; background: #f7f7f7; padding: 4px; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 2px 6px; }
"""


def to_html(widget) -> str:
    """The stock widgets this panel uses, as static HTML with their layout."""
    layout = widget.layout
    style = ";".join(
        f"{css}:{value}"
        for css, value in (
            ("width", layout.width),
            ("height", layout.height),
            ("border", layout.border),
            ("padding", layout.padding),
            ("margin", layout.margin),
            ("display", layout.display),
            ("flex-wrap", "wrap" if layout.flex_flow and "wrap" in layout.flex_flow else None),
            ("align-items", layout.align_items),
        )
        if value
    )
    if isinstance(widget, widgets.Box):
        kind = "v" if isinstance(widget, widgets.VBox) else "h"
        inner = "".join(to_html(child) for child in widget.children)
        return f'<div class="box {kind}" style="{style}">{inner}</div>'
    if isinstance(widget, widgets.HTML):
        return f'<div style="{style};margin-right:12px">{widget.value}</div>'
    if isinstance(widget, widgets.Textarea):
        return f'<textarea style="{style}">{html.escape(widget.value)}</textarea>'
    if isinstance(widget, widgets.Button):
        return f'<button class="{widget.button_style}">{html.escape(widget.description or "↻")}</button>'
    if isinstance(widget, widgets.BoundedIntText):
        return f'<span><label>{widget.description}</label><input value="{widget.value}"></span>'
    if isinstance(widget, widgets.Image):
        data = base64.b64encode(bytes(widget.value)).decode()
        return f'<img style="{style}" src="data:image/png;base64,{data}">'
    raise TypeError(f"no static form for {type(widget).__name__}")


def main() -> None:
    namespace: dict = {}
    for cell in nbformat.read(NOTEBOOK, as_version=4).cells[:4]:
        if cell.cell_type == "code":
            exec(cell.source, namespace)  # noqa: S102 - the example's own training cells
    options = ExportOptions(
        notebook=str(NOTEBOOK), model="clf", sample="X_test[:5]", name="iris-docs", run=True
    )
    result = run_cancellable(options, InProcessKernel(namespace), TerminalProgress(verbose=False))
    instance = ServingInstance(result.instance, sample=result.sample)
    try:
        panel = instance.panel()
        panel.reference = live_reference(namespace, Path(result.context))
        panel.refresh_health()
        panel.check_parity()
        panel.requests_input.value = 300
        panel.load_test()
        with tempfile.TemporaryDirectory() as folder:
            page = Path(folder) / "panel.html"
            page.write_text(
                f"<!doctype html><meta charset=utf-8><style>{STYLE}</style>{to_html(panel)}"
            )
            subprocess.run(
                [
                    CHROMIUM,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    f"--screenshot={OUTPUT}",
                    "--window-size=1000,755",
                    page.as_uri(),
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
    finally:
        instance.stop()
    print(f"wrote {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
