"""aedyn — learning dynamics of shallow autoencoders, from Python.

The bindings of the aedyn Rust library: every function runs the same code as the CLI
command of the same name and returns the result in memory —

>>> import aedyn
>>> cfg = aedyn.default_config()              # erf, K = 2, D = 1000
>>> cfg.set("output.t_max", 50.0)
>>> th = aedyn.theory(cfg)
>>> th.index, th["test_error"]                # numpy arrays: time, the theory's ε_g
>>> sim = aedyn.simulate(cfg, seeds=2)        # sim["seed"], sim.index (time), sim["test_error"]
>>> th.save("out/theory")                     # exactly what `aedyn theory --out out/theory` writes

Configs have the sections and keys of aedyn's TOML files (`aedyn.Config`). Results
(`aedyn.Result`) hold the command's tables (`result.tables`, by CSV file stem), its record
(`result.meta`, what run.json/compare.json/validate.json/sweep.json holds) and `save(dir)`.
Long runs release the GIL and stop on Ctrl-C (KeyboardInterrupt, nothing written); pass
`progress=True` for a progress bar (tqdm when installed). Errors are `ConfigError` (naming
the field), `DivergenceError` and their base `AedynError`, with the CLI's messages.
"""

import sys

from ._aedyn import (
    AedynError,
    Config,
    ConfigError,
    DivergenceError,
    Result,
    Table,
    __version__,
    default_config,
    figures,
    models,
)
from . import _aedyn

__all__ = [
    "AedynError",
    "Config",
    "ConfigError",
    "DivergenceError",
    "Result",
    "Table",
    "__version__",
    "compare",
    "default_config",
    "figures",
    "models",
    "reproduce",
    "simulate",
    "sweep",
    "theory",
    "validate",
]


def _config(config):
    """A `Config` from a `Config`, a dict of sections, or None (the autoencoder's default)."""
    if config is None:
        return default_config()
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return Config(config)
    raise TypeError(f"config must be an aedyn.Config or a dict, not {type(config).__name__}")


class _Progress:
    """The progress display of one call: a tqdm bar when tqdm is installed, else a line on
    stderr; or the caller's own callable(done, total). Used as a context manager around
    the call so the bar is closed however the call ends."""

    def __init__(self, progress, label):
        self.label = label
        self.bar = None
        self.callback = None
        if callable(progress):
            self.callback = progress
        elif progress:
            self.callback = self._show

    def _show(self, done, total):
        if self.bar is None:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            self.bar = tqdm(total=total or None, desc=self.label) if tqdm else False
        if self.bar:
            self.bar.update(done - self.bar.n)
        else:
            of = f"/{total}" if total else ""
            print(f"\r{self.label}: {done}{of}", end="", file=sys.stderr, flush=True)

    def __enter__(self):
        return self.callback

    def __exit__(self, *exc):
        if self.bar:
            self.bar.close()
        elif self.bar is False:
            print(file=sys.stderr)
        return False


def theory(config=None, seed=None, progress=False):
    """The limit theory of a config, from replicate 0's initial state (`aedyn theory`).

    Parameters: `config` (an `aedyn.Config` or a dict of sections; default: the
    autoencoder's default config), `seed` (sets `init.seed`, as the CLI's `--seed`),
    `progress` (True for a progress bar, or a callable(done, total)).

    Returns an `aedyn.Result`: `result.index` (time), `result["test_error"]` and every
    column of theory.csv as numpy arrays, the model's extra tables in `result.tables`
    (autoencoder: `groups`, `overlaps`), `result.meta` (run.json), `result.save(dir)`.
    """
    with _Progress(progress, "theory") as p:
        return _aedyn.theory(_config(config), seed, p)


def simulate(config=None, seeds=None, seed=None, progress=False):
    """Finite-size training of `seeds` replicates in parallel (`aedyn simulate`).

    `seeds` is the number of replicates (default: the config's `simulation.seeds`);
    replicate j uses seed `init.seed + j`, whatever the thread count. Returns an
    `aedyn.Result` whose main table `sim` has a `seed` column (`result["seed"]`) and the
    index (time or step) and observables of sim.csv; `result.meta` is run.json.
    Raises `DivergenceError` (or `AedynError`) when a seed fails, with the finished seeds'
    result as the exception's `result`.
    """
    with _Progress(progress, "simulate") as p:
        return _aedyn.simulate(_config(config), seeds, seed, p)


def compare(config=None, seeds=None, seed=None, progress=False):
    """Simulation against the theory from each seed's exact initial state (`aedyn compare`).

    Returns an `aedyn.Result` with the tables `sim` (main) and `theory` (both with a `seed`
    column when the theory depends on the seed) and the model's extra tables;
    `result.meta` is compare.json (per-observable deviations in `meta["observables"]`).
    `result.save(dir)` also draws compare.png/.svg. Failed seeds raise as in `simulate`.
    """
    with _Progress(progress, "compare") as p:
        return _aedyn.compare(_config(config), seeds, seed, p)


def validate(config=None, sizes=None, seeds=4, seed=None, progress=False):
    """Deviation of theory and simulation against the model's size (`aedyn validate`).

    The config's size key (autoencoder `data.dim`, mean-field `network.neurons`, …) takes
    each of `sizes` (default: the model's), with `seeds` seeds each; the deviation's power
    law in the size is fitted. Returns an `aedyn.Result` with the table `validate` (one row
    per size) and `meta["validation"]` (rows and fits).
    """
    with _Progress(progress, "validate") as p:
        return _aedyn.validate(_config(config), sizes, seeds, seed, p)


def sweep(config, progress=False):
    """A parameter sweep over the config's `[sweep]` section, in memory (`aedyn sweep`).

    Every task (point × seed) runs in parallel. Returns an `aedyn.Result` whose table
    `sweep` holds the rows of sweep.csv as arrays: axis values and numbers as float (NaN
    for empty cells), `seed` as uint64, `diverged` as bool, text columns as str arrays;
    `result.meta` is sweep.json and `result.save(dir)` writes the sweep's folder.
    """
    with _Progress(progress, "sweep") as p:
        return _aedyn.sweep(_config(config), p)


def reproduce(names=None, out="plots", quick=False, progress=False):
    """Write the paper-style figures (`aedyn reproduce`): all, or the given names (see
    `aedyn.figures()`), each as PNG, SVG and the CSV of its plotted data in `out`; `quick`
    draws the small versions where a figure has one. Returns the names written. The
    figures are drawn in Rust; results of the other functions plot directly with matplotlib
    (see examples/quickstart.py)."""
    if isinstance(names, str):
        names = [names]
    with _Progress(progress, "reproduce") as p:
        return _aedyn.reproduce(None if names is None else list(names), str(out), quick, p)
