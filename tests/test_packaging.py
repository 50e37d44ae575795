"""Packaging: every package folder is listed in pyproject.toml (the folders are mapped into
the `aot` namespace, so setuptools cannot discover them), and `import aot` stays light."""
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    mapping = cfg["package-dir"]
    found = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    assert "aot.frontends.keras" in found
    assert found - listed == set(), f"package folders missing from pyproject.toml: {sorted(found - listed)}"


def test_import_aot_is_light():
    code = ("import sys, aot; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('tvm', 'onnx', 'torch') or m.startswith(('aot.ir', 'aot.codegen'))]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
