"""The bindings return what the CLI writes: every CSV column to the last digit, the same
records, and `save` writes the same folder — for every model."""
import json

import numpy as np
import pytest

import aedyn
from conftest import MODELS, assert_result_matches_folder, assert_table_matches_csv, read_csv

#: Record fields that differ between two runs of the same work.
VOLATILE = {"wall_seconds", "steps_per_second"}


def same_record(a, b):
    """Two records equal up to the wall-clock fields."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(k in VOLATILE or same_record(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_record(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("model", MODELS)
def test_theory_matches_cli(model, cli, config_file, tmp_path):
    path = config_file(model)
    cli("theory", "--config", path, "--out", tmp_path / "cli")
    result = aedyn.theory(aedyn.Config.from_file(str(path)))
    assert result.command == "theory" and result.table.name == "theory"
    assert_result_matches_folder(result, tmp_path / "cli")
    record = json.loads((tmp_path / "cli" / "run.json").read_text())
    assert same_record(result.meta, record)
    assert sorted(result.meta["files"]) == sorted(
        p.relative_to(tmp_path / "cli").as_posix() for p in (tmp_path / "cli").rglob("*.*") if p.name != "run.json"
    )
    # The main table's columns, directly on the result.
    assert np.array_equal(result.index, result.table[result.table.index_name])
    head = result.columns[0]
    assert np.array_equal(result[head], result.tables["theory"][head])


@pytest.mark.parametrize("model", MODELS)
def test_simulate_matches_cli(model, cli, config_file, tmp_path):
    path = config_file(model)
    cli("simulate", "--config", path, "--out", tmp_path / "cli", "--seeds", 2, "--seed", 3)
    result = aedyn.simulate(aedyn.Config.from_file(str(path)), seeds=2, seed=3)
    assert_result_matches_folder(result, tmp_path / "cli")
    assert sorted(set(result["seed"].tolist())) == [3, 4]
    assert same_record(result.meta, json.loads((tmp_path / "cli" / "run.json").read_text()))


@pytest.mark.parametrize("model", MODELS)
def test_compare_matches_cli_and_saves_its_folder(model, cli, config_file, tmp_path):
    path = config_file(model)
    cli("compare", "--config", path, "--out", tmp_path / "cli")
    result = aedyn.compare(aedyn.Config.from_file(str(path)))
    assert_result_matches_folder(result, tmp_path / "cli")
    cli_record = json.loads((tmp_path / "cli" / "compare.json").read_text())
    assert same_record(result.meta, cli_record)
    # save() writes the same files: identical CSVs and figures, the same record.
    result.save(str(tmp_path / "py"))
    files = lambda d: sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())
    assert files(tmp_path / "py") == files(tmp_path / "cli")
    for f in files(tmp_path / "cli"):
        a, b = (tmp_path / "py" / f).read_bytes(), (tmp_path / "cli" / f).read_bytes()
        if f == "compare.json":
            assert same_record(json.loads(a), json.loads(b))
        else:
            assert a == b, f
    assert json.loads((tmp_path / "py" / "compare.json").read_text()) == result.meta


@pytest.mark.parametrize("model", MODELS)
def test_sweep_matches_cli(model, cli, config_file, tmp_path):
    path = config_file(model)
    cli("sweep", "--config", path, "--out", tmp_path / "cli")
    result = aedyn.sweep(aedyn.Config.from_file(str(path)))
    table = result.tables["sweep"]
    assert_table_matches_csv(table, tmp_path / "cli" / "sweep.csv")
    assert table["seed"].dtype == np.uint64 and table["diverged"].dtype == np.bool_
    assert np.issubdtype(table[table.keys()[0]].dtype, np.floating)  # the axis
    cli_manifest = json.loads((tmp_path / "cli" / "sweep.json").read_text())
    assert result.meta == cli_manifest
    # save() writes the sweep's folder as `aedyn sweep` does.
    result.save(str(tmp_path / "py"))
    assert (tmp_path / "py" / "sweep.csv").read_bytes() == (tmp_path / "cli" / "sweep.csv").read_bytes()
    assert json.loads((tmp_path / "py" / "sweep.json").read_text()) == cli_manifest
    traj = lambda d: sorted(p.name for p in (d / "points").glob("*.csv"))
    assert traj(tmp_path / "py") == traj(tmp_path / "cli")
    for name in traj(tmp_path / "cli"):
        assert (tmp_path / "py" / "points" / name).read_bytes() == (tmp_path / "cli" / "points" / name).read_bytes()


def test_theory_save_writes_the_cli_folder(cli, config_file, tmp_path):
    path = config_file("autoencoder")
    cli("theory", "--config", path, "--out", tmp_path / "cli")
    result = aedyn.theory(aedyn.Config.from_file(str(path)))
    result.save(str(tmp_path / "py"))
    for f in ["theory.csv", "groups.csv", "overlaps.csv"]:
        assert (tmp_path / "py" / f).read_bytes() == (tmp_path / "cli" / f).read_bytes()
    assert json.loads((tmp_path / "py" / "run.json").read_text()) == result.meta
    # Saving again replaces the previous run; a folder holding something else is refused.
    result.save(str(tmp_path / "py"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(aedyn.ConfigError, match="holds no aedyn run"):
        result.save(str(tmp_path / "other"))
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_validate_matches_cli(cli, config_file, tmp_path):
    path = config_file("autoencoder")
    cli("validate", "--config", path, "--out", tmp_path / "cli", "--sizes", "50,100", "--seeds", 2)
    result = aedyn.validate(aedyn.Config.from_file(str(path)), sizes=[50, 100], seeds=2)
    assert_table_matches_csv(result.tables["validate"], tmp_path / "cli" / "validate.csv")
    assert result.index.tolist() == [50.0, 100.0]
    record = json.loads((tmp_path / "cli" / "validate.json").read_text())
    assert same_record(result.meta, record)


def test_every_default_config_validates_and_names_its_model():
    for kind, about in aedyn.models():
        cfg = aedyn.default_config(kind)
        cfg.validate()
        assert cfg.model == kind and about


def test_pandas_frame_has_every_column(config_file):
    pd = pytest.importorskip("pandas")
    result = aedyn.simulate(aedyn.Config.from_file(str(config_file("autoencoder"))))
    df = result.to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == result.table.keys() and len(df) == len(result)


def test_reproduce_draws_the_cli_figures(cli, tmp_path):
    names = ["gen_support", "ntk_tied"]
    assert {n for n, _, _ in aedyn.figures()} >= set(names)
    assert aedyn.reproduce(names, out=tmp_path / "py", quick=True) == names
    cli("reproduce", "--quick", "--only", ",".join(names), "--out", tmp_path / "cli")
    for n in names:
        for ext in ("csv", "svg", "png"):
            assert (tmp_path / "py" / f"{n}.{ext}").read_bytes() == (tmp_path / "cli" / f"{n}.{ext}").read_bytes()


def test_progress_reports_every_unit(config_file, capsys):
    cfg = aedyn.Config.from_file(str(config_file("autoencoder")))
    calls = []
    result = aedyn.simulate(cfg, progress=lambda done, total: calls.append((done, total)))
    total = calls[-1][1]
    assert total > 0 and calls[-1][0] == total
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert len(result) > 0
    aedyn.theory(cfg, progress=True)  # a tqdm bar, or a line on stderr without tqdm
    err = capsys.readouterr().err
    assert "theory" in err
