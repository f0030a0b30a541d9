"""docs/cli.md's generated reference is exactly what the typer app says (python -m kubetwin.clidoc)."""

from __future__ import annotations

from pathlib import Path

import typer.main

from kubetwin import clidoc
from kubetwin.cli import app

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def _verbs() -> list[str]:
    root = typer.main.get_command(app)
    out: list[str] = []

    def walk(cmd: object, path: list[str]) -> None:
        commands = getattr(cmd, "commands", None)
        if commands is None:
            out.append(" ".join(path))
            return
        for name, sub in commands.items():
            walk(sub, [*path, name])

    walk(root, [])
    return out


def test_docs_cli_md_is_in_step_with_the_app() -> None:
    text = DOC.read_text(encoding="utf-8")
    block = text[text.index(clidoc.BEGIN): text.index(clidoc.END) + len(clidoc.END) + 1]
    assert block == clidoc.render(), "docs/cli.md is out of step: run `python -m kubetwin.clidoc`"


def test_every_verb_and_option_is_in_the_reference() -> None:
    block = clidoc.render()
    verbs = _verbs()
    assert {"simulate", "validate", "record", "conformance", "compare", "replay", "report", "sweep run",
            "sweep merge", "experiment fragmentation", "import openb", "schema"} <= set(verbs)
    for verb in verbs:
        assert f"## `kubetwin {verb}`" in block
    for flag in ("`-o, --out <path>`", "`--max-wait-p95-diff <str>`", "`--executor <str>`", "`--gpu-sharing <str>`",
                 "`--version`", "`--junit <path>`"):
        assert flag in block


def test_update_rewrites_only_the_generated_block(tmp_path: Path) -> None:
    doc = tmp_path / "cli.md"
    doc.write_text(f"# head\n\n{clidoc.BEGIN}\nstale\n{clidoc.END}\n\n## Notes\nkept\n", encoding="utf-8")
    assert clidoc.update(doc) is True
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# head\n\n" + clidoc.BEGIN)
    assert "stale" not in text and text.endswith("## Notes\nkept\n")
    assert clidoc.update(doc) is False


def test_docs_invariants_md_lists_every_registered_invariant() -> None:
    from validator.checks import INVARIANTS

    text = (DOC.parent / "invariants.md").read_text(encoding="utf-8")
    assert text == clidoc.render_invariants(), "docs/invariants.md is out of step: run `python -m kubetwin.clidoc`"
    for inv in INVARIANTS:
        assert f"| `{inv.id}` |" in text
    assert {"capacity", "G1", "G6", "D1", "CA1", "H1"} <= {inv.id for inv in INVARIANTS}


def test_every_verb_has_its_own_small_app() -> None:
    """``kubetwin VERB`` builds an app with that verb alone (kubetwin.cli.VERBS): the table must name
    every verb of the whole app, and each small app must hold exactly its module's verbs (simulate and
    schema share one) and the global --version."""
    import typer.main

    from kubetwin import cli

    whole = typer.main.get_command(cli.app)
    assert set(cli.VERBS) == set(whole.commands)  # type: ignore[attr-defined]
    for module in set(cli.VERBS.values()):
        small = typer.main.get_command(cli._build(tuple(m for m in cli.MODULES if m in (module, "cmd_version"))))
        # the verb's module's verbs and nothing else, with the global --version of the whole app
        assert set(small.commands) == {v for v, m in cli.VERBS.items() if m == module}  # type: ignore[attr-defined]
        assert "--version" in {opt for p in small.params for opt in p.opts}
