"""The layout tree in docs/development.md names every folder of the package, and only those."""

from __future__ import annotations

import re

from package_tree import LAYERS, MAY_IMPORT, PACKAGE, PACKAGE_DIR, ROOT

DOC = ROOT / "docs" / "development.md"
_ENTRY = re.compile(r"^(?P<indent> *)(?P<name>\S+/)(?: +(?P<text>.*))?$")


def layout_block() -> list[str]:
    """The lines of the code block under ``## Layout``."""
    section = DOC.read_text(encoding="utf-8").split("\n## Layout\n", 1)[1]
    return section.split("```\n", 2)[1].splitlines()


def documented_folders() -> dict[str, str]:
    """Folder (relative to the package, ``training/multihost/``) -> its line's text, read from the tree's
    indentation under ``src/ensemble_byoc/``."""
    folders: dict[str, str] = {}
    stack: list[tuple[int, str]] = []  # (indent, folder) of the lines above, package first
    for line in layout_block():
        entry = _ENTRY.match(line)
        if entry is None:
            continue
        indent, name = len(entry["indent"]), entry["name"]
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if stack or name == f"src/{PACKAGE}/":
            path = "".join(folder for _, folder in stack[1:]) + name if stack else ""
            stack.append((indent, name))
            if path:
                folders[path] = entry["text"] or ""
    return folders


def package_folders() -> set[str]:
    return {str(init.parent.relative_to(PACKAGE_DIR)) + "/" for init in PACKAGE_DIR.rglob("__init__.py")
            if init.parent != PACKAGE_DIR}


def test_the_layout_tree_lists_every_folder_of_the_package_and_no_other() -> None:
    documented = set(documented_folders())

    assert sorted(package_folders() - documented) == [], f"folders missing from the tree in {DOC.name}"
    assert sorted(documented - package_folders()) == [], "folders in the tree that the package does not have"


def test_the_layout_tree_says_which_layer_each_layer_may_import() -> None:
    said = {folder.rstrip("/"): re.search(r"imports (\w+)", text)
            for folder, text in documented_folders().items() if folder.count("/") == 1}
    expected = {
        layer: max(MAY_IMPORT[layer] - {layer}, key=LAYERS.index) if layer != "launcher" else "any"
        for layer in LAYERS if layer in said
    }

    assert {layer: found[1] if found else None for layer, found in said.items()} == expected
