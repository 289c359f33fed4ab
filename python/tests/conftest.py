"""Shared helpers of the Python tests: small configs of every model (each run takes well
under a second), the CLI binary the results are checked against, and CSV reading."""
import csv
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import aedyn

ROOT = Path(__file__).resolve().parents[2]

#: Small configs of the four models, with a small sweep each (TOML, as a user writes them).
CONFIGS = {
    "autoencoder": """
[data]
dim = 100
[output]
t_max = 5.0
points = 11
[simulation]
seeds = 2
test_samples = 200
[sweep]
what = "both"
[[sweep.axis]]
field = "training.lr"
values = [0.2, 0.4]
""",
    "mean-field": """
[model]
kind = "mean-field"
[network]
neurons = 100
[output]
t_max = 1.0
points = 6
[simulation]
seeds = 2
[sweep]
what = "both"
[[sweep.axis]]
field = "training.l2"
values = [0.1, 0.3]
""",
    "generative": """
[model]
kind = "generative"
[data]
samples = 500
[training]
steps = 20
[output]
points = 6
[simulation]
seeds = 2
test_samples = 200
[sweep]
what = "both"
[[sweep.axis]]
field = "network.tau"
values = [0.4, 0.5]
""",
    "ntk": """
[model]
kind = "ntk"
[network]
width = 100
[training]
steps = 50
[output]
points = 10
[simulation]
seeds = 2
test_points = 20
[sweep]
what = "both"
seeds = 2
[[sweep.axis]]
field = "network.kappa"
values = [0.5, 1.0]
""",
}

MODELS = list(CONFIGS)


def cli_path():
    """The release CLI the bindings are checked against (`cargo build --release --bin aedyn`)."""
    if "AEDYN_CLI" in os.environ:
        return Path(os.environ["AEDYN_CLI"])
    target = ROOT / os.environ.get("CARGO_TARGET_DIR", "target")  # relative: to the repository
    return target / "release" / "aedyn"


@pytest.fixture(scope="session")
def cli():
    """Run the CLI: cli(args..., check=True) → CompletedProcess (text)."""
    exe = cli_path()
    if not exe.exists():
        pytest.fail(f"{exe} is missing: run `cargo build --release --bin aedyn` first (or set AEDYN_CLI)")

    def run(*args, check=True):
        p = subprocess.run([str(exe), *map(str, args), "--quiet"], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"aedyn {' '.join(map(str, args))} failed:\n{p.stderr}")
        return p

    return run


@pytest.fixture
def config_file(tmp_path):
    """config_file(model) → the path of the model's small config in a fresh folder."""

    def make(model):
        path = tmp_path / f"{model}.toml"
        path.write_text(CONFIGS[model])
        return path

    return make


def read_csv(path):
    """A CSV file as {column: list of cell strings}, columns in file order."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    return {name: [r[j] for r in body] for j, name in enumerate(header)}


def cell_equal(value, cell):
    """Whether an array value equals a CSV cell: numbers to the last digit (1e-12 relative
    at most), empty cells as NaN, text and flags as written."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower() == cell
    if isinstance(value, (str, np.str_)):
        return str(value) == cell
    v = float(value)
    if cell == "":
        return math.isnan(v)
    c = float(cell)
    return v == c or abs(v - c) <= 1e-12 * max(abs(v), abs(c))


def assert_table_matches_csv(table, path):
    """Every column of an aedyn.Table equals the CSV file's, in the same order."""
    data = read_csv(path)
    assert table.keys() == list(data), f"{path.name}: columns differ"
    for name, cells in data.items():
        values = table[name]
        assert len(values) == len(cells), f"{path.name}:{name}: row count"
        bad = [(i, v, c) for i, (v, c) in enumerate(zip(values.tolist(), cells)) if not cell_equal(v, c)]
        assert not bad, f"{path.name}:{name}: first differing rows {bad[:3]}"


def assert_result_matches_folder(result, folder):
    """Every table of a result equals the CLI's CSV of the same name."""
    for name, table in result.tables.items():
        assert_table_matches_csv(table, folder / f"{name}.csv")
