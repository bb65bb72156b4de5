"""The wheel installs the layout of the product design: backends/ and models/ only inside snncompile/."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {"snncompile": ROOT / "snncompile", "snncompile/backends": ROOT / "backends",
           "snncompile/models": ROOT / "models"}


def test_wheel_holds_every_module_and_no_top_level_backends_or_models(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path), str(ROOT)], check=True,
                   capture_output=True)
    (wheel,) = tmp_path.glob("snncompile-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"snncompile"}
    expected = {f"{prefix}/{path.relative_to(source).as_posix()}" for prefix, source in SOURCES.items()
                for path in source.rglob("*.py")}
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
