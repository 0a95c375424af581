"""microgpt never imports torch, babygpt never imports JAX, lmbase imports neither."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"lmbase": ["torch", "jax", "optax"], "microgpt": ["torch"], "babygpt": ["jax", "optax"]}


def modules_of(package: str) -> list[str]:
    found = [package]
    for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
        if not info.name.split(".")[-1].startswith("_") or info.name.endswith("__main__"):
            found.append(info.name)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_without_the_other_framework(package):
    blocked = FORBIDDEN[package]
    modules = [m for m in modules_of(package) if not m.endswith("__main__")]
    # A module set to None in sys.modules cannot be imported: any import of it raises.
    code = (
        "import sys\n"
        + "".join(f"sys.modules[{name!r}] = None\n" for name in blocked)
        + "".join(f"import {module}\n" for module in modules)
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"{package} needs one of {blocked}:\n{result.stderr[-2000:]}"
