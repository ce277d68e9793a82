from __future__ import annotations

from pathlib import Path

import pytest

from eotrust.errors import InvalidInputError, ModelError, NotFoundError
from eotrust.ml.modeldef import builtin_names, load_model_def, parse_model_def
from eotrust.ml.models import build_model


def test_builtins_load_and_build() -> None:
    assert {"temporal_cnn", "temporal_cnn_quick", "enet"} <= set(builtin_names())
    md = load_model_def("temporal_cnn")
    assert md.architecture == "temporal_cnn" and md.input_kind == "pixel" and md.params["pooling"] == "avgmax"
    assert load_model_def("enet").input_kind == "tile"
    build_model(md.architecture, 1, 4, md.params)
    # a day-of-year model is told its dates' days (the trainer fills them from the dataset)
    doy = {**md.params, "time_encoding": "doy"}
    with pytest.raises(ModelError, match="days_of_year"):
        build_model(md.architecture, 1, 4, doy)
    build_model(md.architecture, 1, 4, {**doy, "days_of_year": [15.0, 120.0, 300.0]})


def test_yaml_and_json_files(tmp_path: Path) -> None:
    y = tmp_path / "m.yaml"
    y.write_text("name: t\narchitecture: temporal_cnn\nparams: {hidden: 8}\ntraining: {epochs: 3}\n")
    md = load_model_def(y)
    assert md.params["hidden"] == 8 and md.params["layers"] == 3 and md.training.epochs == 3
    j = tmp_path / "m.json"
    j.write_text('{"name": "t", "architecture": "temporal_cnn"}')
    assert load_model_def(j).training.epochs == 40
    assert md.with_training(epochs=5).training.epochs == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: t\narchitecture: [unclosed\n", "not valid YAML at line"),
        ("name: t\narchitecture: resnet9000\n", "unknown architecture 'resnet9000'"),
        (
            "name: t\narchitecture: temporal_cnn\nparams: {kernel_size: 4}\n",
            "params: kernel_size: kernel_size must be odd",
        ),
        ("name: t\narchitecture: temporal_cnn\nparams: {depth: 3}\n", "params: depth: Extra inputs are not permitted"),
        (
            "name: t\narchitecture: temporal_cnn\ntraining: {epochs: zero}\n",
            "training.epochs: Input should be a valid integer",
        ),
        ("name: t\narchitecture: temporal_cnn\ntraining: {class_weighting: squared}\n", "training.class_weighting"),
        ("architecture: temporal_cnn\n", "name: Field required"),
        ("- just\n- a list\n", "must be a mapping"),
    ],
)
def test_errors_say_what_and_where(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(InvalidInputError, match=message.replace("[", r"\[").replace("(", r"\(")) as exc:
        load_model_def(p)
    assert str(p) in str(exc.value)


def test_bad_json_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text('{"name": "t",, }')
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        load_model_def(p)
    with pytest.raises(NotFoundError):
        load_model_def(tmp_path / "none.yaml")


def test_enet_parameters_are_checked_when_built() -> None:
    md = parse_model_def({"name": "e", "architecture": "enet", "params": {"no_such": 1}})
    with pytest.raises(ModelError, match="cannot build enet"):
        build_model(md.architecture, 4, 3, md.params)
    # one line naming the parameter (a federated plan's params are read this way too)
    with pytest.raises(ModelError) as err:
        build_model("temporal_cnn", 1, 4, {"hidden": 200000})
    assert (
        "\n" not in str(err.value) and "field hidden: Input should be less than or equal to 1024" in err.value.message
    )


def test_every_mistake_is_reported_not_only_the_first() -> None:
    """A bad training value AND a bad architecture parameter: both named in one error."""
    with pytest.raises(InvalidInputError) as err:
        parse_model_def(
            {"name": "m", "architecture": "temporal_cnn", "params": {"hidden": -3}, "training": {"epochs": 0}}
        )
    assert "training.epochs" in err.value.message and "params: hidden" in err.value.message
    with pytest.raises(InvalidInputError) as err:
        parse_model_def({"name": "m", "architecture": "no_such_net", "training": {"batch_size": 0}})
    assert "training.batch_size" in err.value.message and "unknown architecture 'no_such_net'" in err.value.message


def test_a_bad_training_override_is_one_error_naming_it() -> None:
    """Found by hand: `train --epochs 0` printed pydantic's ValidationError traceback (the same
    path takes the land-cover workflow's epochs parameter)."""
    with pytest.raises(InvalidInputError, match=r"training\.epochs: .*greater than or equal to 1"):
        load_model_def("temporal_cnn_quick").with_training(epochs=0)
