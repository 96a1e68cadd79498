"""The layout is the architecture: the commands (textclf/commands/) sit side by side on the
inference floor and import no other command; nothing below them imports one; below them, each
floor imports only the floors under it; the entry modules (`python -m textclf.evaluate` ...) import
their own command only."""

from __future__ import annotations

import ast
from pathlib import Path

import textclf

PACKAGE = Path(textclf.__file__).parent
NAMES = ("train", "evaluate", "predict", "explain", "export", "serve", "search")
ENTRY_MODULES = NAMES[1:-1]  # train and search start from `python -m textclf` (textclf/__main__.py)
COMMANDS = {f"textclf.commands.{name}" for name in NAMES}
LAYERS = ("core", "data", "models", "inference", "training", "reporting", "serving", "experiments")


def imported_modules(path: Path) -> set[str]:
    """Every textclf module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("textclf"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # from textclf import train
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("textclf"))
    return found


def test_no_command_imports_another():
    for command in sorted(COMMANDS):
        path = PACKAGE / "commands" / f"{command.rsplit('.', 1)[1]}.py"
        assert path.exists(), path
        others = imported_modules(path) & (COMMANDS - {command})
        assert not others, f"{path.name} imports the command(s) {sorted(others)}; move the shared code below the commands"


def test_each_entry_module_starts_its_own_command_only():
    """textclf/evaluate.py and its siblings are `python -m` entry points, nothing more."""
    for name in ENTRY_MODULES:
        path = PACKAGE / f"{name}.py"
        assert imported_modules(path) == {f"textclf.commands.{name}", f"textclf.commands.{name}.main"}, path
    assert imported_modules(PACKAGE / "__main__.py") & COMMANDS == {"textclf.commands.train", "textclf.commands.search"}
    commands = {p.stem for p in (PACKAGE / "commands").glob("*.py")} - {"__init__"}
    assert commands == set(NAMES), "a module in textclf/commands/ that is no command belongs on a floor below"


def test_no_layer_below_the_commands_imports_one():
    for layer in LAYERS:
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            commands = imported_modules(path) & COMMANDS
            assert not commands, f"{path.relative_to(PACKAGE)} imports {sorted(commands)}"


# The floors, bottom up: each may import itself and the floors below it, never one above. core is
# errors, guards and files; data reads and encodes; models are the networks; reporting scores and
# draws; inference turns checkpoints into predictors; training and serving use all of those;
# experiments (searches) start training runs; the commands use everything.
FLOORS = ("core", "data", "models", "reporting", "inference", "training", "experiments")
BESIDE = {"serving": "inference"}  # serving stands on inference, beside training (neither imports the other)


def allowed(floor: str) -> set[str]:
    below = BESIDE.get(floor, floor)
    return {*FLOORS[: FLOORS.index(below) + 1], floor}


def test_each_floor_imports_only_the_floors_below_it():
    for floor in (*FLOORS, *BESIDE):
        for path in sorted((PACKAGE / floor).rglob("*.py")):
            floors = {name.split(".")[1] for name in imported_modules(path) if name.count(".") >= 1}
            above = floors & set(LAYERS) - allowed(floor)
            assert not above, f"{path.relative_to(PACKAGE)} (floor {floor}) imports textclf.{sorted(above)}, a floor above it"


def test_the_check_sees_imports(tmp_path):
    # The walk must catch both spellings, or the two tests above could not fail.
    sample = tmp_path / "sample.py"
    sample.write_text("from textclf.commands import evaluate\ndef f():\n    import textclf.commands.predict\n")
    assert {"textclf.commands.evaluate", "textclf.commands.predict"} <= imported_modules(sample)
