"""The Colab cell's installation, tested as far as a machine without Colab can test it.

Colab comes with its own JAX and PyTorch (and most of what the chapters import); the first cell
of every chapter (tools/sync_notebooks.py's colab_setup_source) must install the course's
packages and the libraries the chapters import without replacing either framework.

- test_the_colab_cell_keeps_torch_and_jax makes a fresh virtual environment with stand-ins for
  torch, jax and jaxlib at versions other than requirements.txt's pins (as Colab's are), runs the
  cell there as on Colab, and asks pip for the cell's exact command with --dry-run --report: pip
  must plan to install lmbook and every dependency, and neither torch nor jax nor jaxlib. It
  resolves against the package index, so it needs the network (about a minute on 2 cores).
- the others are offline: pyproject.toml's ranges are loose and requirements.txt's pins meet
  them; every module the chapters and packages import is installed on Colab; the course's
  release (the tag in the cell) exists.
"""

import json
import os
import re
import shlex
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools.sync_notebooks import COLAB_REQUIREMENTS, colab_setup_source, course_ref, repository_url

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = {"torch", "jax", "jaxlib"}
# Colab's frameworks stand in at versions requirements.txt does not pin (checked below); each
# meets what the course's dependencies ask of it (peft: torch>=1.13, optax: jax>=0.5.3).
STAND_INS = {"torch": "2.12.1", "jax": "0.10.1", "jaxlib": "0.10.1"}


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def requirements(extra: str | None = None) -> list[Requirement]:
    """pyproject.toml's dependencies, or those of one extra."""
    listed = project()["dependencies"] if extra is None else project()["optional-dependencies"][extra]
    return [Requirement(r) for r in listed]


def pins() -> dict[str, str]:
    """requirements.txt's pins: {canonical name: version}."""
    pinned = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, version = line.split("==")
            pinned[canonicalize_name(name)] = version
    return pinned


def cell_parts() -> tuple[str, str]:
    """The Colab cell as Python (everything before its one %pip line) and that line's arguments."""
    lines = colab_setup_source().splitlines()
    magic = [i for i, line in enumerate(lines) if line.lstrip().startswith("%")]
    assert magic == [len(lines) - 1], "the Colab cell's only magic must be its last line, %pip install"
    command = lines[-1].strip()
    assert command.startswith("%pip install ")
    return "\n".join(lines[:-1]), command.removeprefix("%pip ")


def make_stand_in(site: Path, name: str, version: str) -> None:
    """An installed distribution as pip and importlib see one: the module and its .dist-info."""
    (site / name).mkdir()
    (site / name / "__init__.py").write_text(f'__version__ = "{version}"  # a stand-in\n')
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("stand-in\n")
    (info / "RECORD").write_text(
        "".join(f"{path},,\n" for path in (f"{name}/__init__.py", *(f"{info.name}/{f}" for f in
                                                                 ("METADATA", "INSTALLER", "RECORD"))))
    )


def test_the_stand_ins_are_not_the_pinned_versions():
    pinned = pins()
    for name, version in STAND_INS.items():
        assert pinned[name] != version, f"{name}'s stand-in must differ from requirements.txt's pin"


def test_the_colab_cell_keeps_torch_and_jax(tmp_path):
    """The cell, run in a fresh venv that has torch, jax and jaxlib: pip installs all but those."""
    # pip itself is this environment's, pointed at the venv (--python): installing pip into the
    # venv (ensurepip) would only cost time.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip())
    for name, version in STAND_INS.items():
        make_stand_in(site, name, version)

    # lmbook from this working tree (its pyproject.toml; no package code is needed to resolve)
    # in place of GitHub at the release tag, and the requirements file in the temporary folder.
    source = tmp_path / "lmbook"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        (source / name).write_bytes((ROOT / name).read_bytes())
    github = f"git+{repository_url()}@{course_ref()}"
    written = tmp_path / "requirements.txt"
    python_part, pip_arguments = cell_parts()
    assert github in python_part and COLAB_REQUIREMENTS in python_part and COLAB_REQUIREMENTS in pip_arguments
    python_part = python_part.replace(github, source.as_uri()).replace(COLAB_REQUIREMENTS, str(written))
    pip_arguments = pip_arguments.replace(COLAB_REQUIREMENTS, str(written))

    # The cell runs as on Colab: google.colab is imported, torch and the rest are found.
    colab = "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n"
    subprocess.run([python, "-c", colab + python_part], check=True)
    kept = sorted(written.read_text().split("\n")[1:-1])
    assert kept == sorted(f"{name}=={version}" for name, version in STAND_INS.items()), kept

    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), *shlex.split(pip_arguments),
         "--dry-run", "--report", str(report)],
        capture_output=True, text=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert result.returncode == 0, f"pip could not resolve the Colab cell's install:\n{result.stdout}\n{result.stderr}"
    planned = {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
               for item in json.loads(report.read_text())["install"]}
    replaced = {name: planned[name] for name in FRAMEWORKS if name in planned}
    assert not replaced, f"pip would replace Colab's frameworks: {replaced}"
    wanted = {canonicalize_name(r.name) for r in requirements() + requirements("colab")} | {"lmbook"}
    assert not wanted - planned.keys(), f"pip would not install {sorted(wanted - planned.keys())}"
    for r in requirements() + requirements("colab"):
        assert planned[canonicalize_name(r.name)] in r.specifier, (r, planned[canonicalize_name(r.name)])


def test_pyproject_has_loose_ranges_and_requirements_pins_them():
    pinned = pins()
    extras = project()["optional-dependencies"]
    everything = requirements() + [r for extra in extras for r in requirements(extra)]
    for r in everything:
        # Lower bounds only: an upper bound or a pin can exclude the version Colab has installed.
        assert all(s.operator == ">=" for s in r.specifier), f"pyproject.toml: {r} (only >= ranges here)"
        name = canonicalize_name(r.name)
        assert name in pinned, f"{r.name} is a dependency but requirements.txt does not pin it"
        assert pinned[name] in r.specifier, f"requirements.txt pins {r.name}=={pinned[name]}, outside {r}"
    assert not {canonicalize_name(r.name) for r in requirements("colab")} & FRAMEWORKS, (
        "the colab extra must not name torch, jax or jaxlib: Colab's own are used"
    )


def imported_modules() -> dict[str, set[str]]:
    """Every top-level module imported by a chapter's code cells or the packages: {module: files}."""
    statement = re.compile(r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import\b|import[ \t]+([\w., \t]+?)[ \t]*(?:#.*)?$)",
                           re.M)
    found: dict[str, set[str]] = {}

    def scan(code: str, where: str) -> None:
        for match in statement.finditer(code):
            names = [match.group(1)] if match.group(1) else match.group(2).split(",")
            for name in names:
                module = name.strip().split(" as ")[0].split(".")[0]
                if module:  # empty for a relative import
                    found.setdefault(module, set()).add(where)

    for chapter in sorted((ROOT / "book").glob("*.md")):
        cells = re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```", chapter.read_text(encoding="utf-8"), re.M | re.S)
        scan("\n".join(cells), chapter.name)
    for package in ("lmbase", "microgpt", "babygpt"):
        for path in sorted((ROOT / package).rglob("*.py")):
            scan(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    return found


def test_colab_has_every_module_the_chapters_import():
    """What the chapters and packages import is the standard library, the course's own packages,
    Colab's frameworks and kernel, or a distribution that lmbook[colab] installs."""
    installed_by_cell = {canonicalize_name(r.name) for r in requirements() + requirements("colab")}
    on_colab = FRAMEWORKS | {"ipython"}
    own = {"lmbase", "microgpt", "babygpt"}
    distributions = packages_distributions()
    missing = {}
    for module, files in imported_modules().items():
        if module in sys.stdlib_module_names or module in own:
            continue
        names = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not names & (installed_by_cell | on_colab):
            missing[module] = sorted(files)
    assert not missing, f"imported, but not installed by the Colab cell (add them to the colab extra): {missing}"
