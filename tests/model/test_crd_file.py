"""The committed CRD is exactly what the generator produces, and has the fixed identity."""

import pytest
import yaml

from controller.resource import crd


def test_committed_crd_equals_generator_output() -> None:
    committed = crd.CRD_PATH.read_text(encoding="utf-8")
    assert committed == crd.render_crd(), "stale CRD: run `python -m controller.resource.crd --write`"


def test_check_mode_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    assert crd.main(["--check"]) == 0
    assert capsys.readouterr().err == ""


def test_stdout_mode_prints_the_crd(capsys: pytest.CaptureFixture[str]) -> None:
    assert crd.main([]) == 0
    assert capsys.readouterr().out == crd.render_crd()


def test_rendered_yaml_parses_back_to_the_built_crd() -> None:
    assert yaml.safe_load(crd.render_crd()) == crd.build_crd()


def test_identity() -> None:
    spec = crd.build_crd()["spec"]
    assert crd.build_crd()["metadata"]["name"] == "scalesetimages.imagerollout.dev"
    assert spec["group"] == "imagerollout.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "ScaleSetImage",
        "listKind": "ScaleSetImageList",
        "plural": "scalesetimages",
        "singular": "scalesetimage",
        "shortNames": ["ssi"],
        "categories": ["imagerollout"],
    }
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


def test_printer_columns() -> None:
    [version] = crd.build_crd()["spec"]["versions"]
    columns = [(c["name"], c["jsonPath"], c.get("priority", 0)) for c in version["additionalPrinterColumns"]]
    assert columns[:5] == [
        ("Image", ".status.imageSummary", 0),
        ("Phase", ".status.phase", 0),
        ("Domain", ".status.domainProgress", 0),
        ("Updated", ".status.instanceProgress", 0),
        ("Age", ".metadata.creationTimestamp", 0),
    ]
