"""Every command that takes a design reads one grammar: name, JSON, a file, a model file, a run."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from segnas.cli import main
from segnas.cli.bench import results_table
from segnas.cli.design import cost_table
from segnas.final.arch_ref import GRAMMAR, resolve_arch
from segnas.final.bench import BenchResult
from segnas.genotype import KNOWN_DESIGNS
from segnas.space.builder import DecoderSettings, build_network
from segnas.space.cost import measure_cost
from segnas.space.model_file import ModelMeta, save_model
from tests.fixtures.search_runs import MIXED, genotype_text, make_run


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A segnas model file of arch2 (untrained: only its design matters here)."""
    path = tmp_path_factory.mktemp("model") / "model.pt"
    net = build_network(
        KNOWN_DESIGNS["arch2"], 3, DecoderSettings(channels=8, repeats=1), weights=None
    )
    meta = ModelMeta(str(KNOWN_DESIGNS["arch2"]), 3, 8, 1, "cell")
    save_model(path, net, meta)
    return path


def test_a_file_holding_an_encoding_and_a_model_file_resolve(tmp_path, model_file) -> None:
    encoding = tmp_path / "design.json"
    encoding.write_text(json.dumps(KNOWN_DESIGNS["arch1"].to_list()) + "\n")
    ref = resolve_arch(str(encoding))
    assert ref.genotype == KNOWN_DESIGNS["arch1"]
    assert ref.origin == {"file": str(encoding)} and ref.slug == "design"
    ref = resolve_arch(str(model_file))
    assert ref.genotype == KNOWN_DESIGNS["arch2"] and ref.slug == "model"


def test_a_file_that_is_neither_names_itself_and_the_grammar(tmp_path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    with pytest.raises(ValueError, match="holds neither a JSON encoding nor a segnas model file"):
        resolve_arch(str(junk))
    with pytest.raises(ValueError, match=GRAMMAR.replace("(", r"\(").replace(")", r"\)")):
        resolve_arch(str(junk))
    bad = tmp_path / "bad.json"
    bad.write_text("[[[3, 3]], [8]]")
    with pytest.raises(ValueError, match=r"the encoding in .*bad\.json is not valid"):
        resolve_arch(str(bad))


def test_describe_and_draw_take_every_form(tmp_path, model_file, capsys) -> None:
    run_dir = tmp_path / "search-x"
    make_run(run_dir, MIXED).close()
    encoding = tmp_path / "arch0.json"
    encoding.write_text(str(KNOWN_DESIGNS["arch0"]))
    expected = {
        "arch1": KNOWN_DESIGNS["arch1"],
        str(encoding): KNOWN_DESIGNS["arch0"],
        str(model_file): KNOWN_DESIGNS["arch2"],
        f"{run_dir}:best": genotype_text(3),  # MIXED's best candidate
        f"{run_dir}:2": genotype_text(0),
    }
    for arch, genotype in expected.items():
        assert main(["describe", arch, "--json", "--size", "64", "--device", "cpu"]) == 0
        assert json.loads(capsys.readouterr().out)["genotype"] == json.loads(str(genotype))
        svg = tmp_path / "d.svg"
        assert main(["draw", arch, "-o", str(svg)]) == 0
        assert svg.read_text().startswith("<") and capsys.readouterr().out == f"wrote {svg}\n"
        svg.unlink()


def printed(renderable) -> str:
    """What an 80-column terminal shows."""
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_tables_fit_80_columns() -> None:
    net = build_network(KNOWN_DESIGNS["arch0"], 21, DecoderSettings(), weights=None)
    text = printed(cost_table(measure_cost(net, (64, 64)), "cost"))
    assert max(map(len, text.splitlines())) <= 80 and "…" not in text
    result = BenchResult(
        name="runs/train-arch0-20261201-120000/model.pt",
        device="cpu",
        threads=2,
        batch=1,
        input_size=(512, 512),
        runs=100,
        warmup=10,
        mean_ms=1234.5,
        std_ms=100.25,
        params=11_022_000,
        madds=9_823_000_000,
        output_size=(512, 512),
    )
    exported = replace(result, name=result.name + " (onnxruntime)", params=None, madds=None)
    named = [result, exported, replace(result, name="lraspp_mobilenet_v3_large")]
    text = printed(results_table(named, "512x512, batch 1, cpu"))
    assert max(map(len, text.splitlines())) <= 80 and "…" not in text
    assert "(onnxruntime)" in text and " - " in text  # unknown counts print as "-"
    for figure in ("1234.5", "100.2", "1.00x", "11.022", "9.823", "512x512"):
        assert figure in text, (figure, text)
