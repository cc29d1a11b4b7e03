"""The format registry: discovery through the entry point, auto-detection, option checks."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from accord.errors import ConfigError, InputError
from accord.io.stix_format import StixExporter, StixImporter
from accord.services.formats import FormatRegistry, Source, check_params, parse_params, registry


def test_builtin_formats_are_found_through_the_entry_point() -> None:
    reg = registry()
    assert "stix" in reg.importers
    assert "stix" in reg.exporters


def test_a_name_cannot_be_registered_twice() -> None:
    reg = FormatRegistry()
    reg.add_importer(StixImporter())
    with pytest.raises(ConfigError, match="two importers"):
        reg.add_importer(StixImporter())
    reg.add_exporter(StixExporter())
    with pytest.raises(ConfigError, match="two exporters"):
        reg.add_exporter(StixExporter())


def test_unknown_format_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"known: .*stix"):
        registry().importer("nope")


def test_stdin_is_sniffed_and_replayed_whole() -> None:
    data = b'[{"type": "x"}]' + b" " * 200_000
    source = Source.from_stream("<stdin>", io.BytesIO(data))
    assert registry().detect(source).name == "stix"
    with source.open() as stream:
        assert stream.read() == data


def test_unrecognised_content_without_a_known_suffix_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\x00\x01\x02")
    with pytest.raises(InputError, match="cannot tell the format"):
        registry().detect(Source.from_path(path))


def test_options_are_checked_against_what_the_format_declares() -> None:
    assert parse_params(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_params(["novalue"])
    with pytest.raises(ConfigError, match="has no option 'zzz'"):
        check_params("import", "stix", {}, {"zzz": "1"})


def test_every_builtin_format_module_loads() -> None:
    assert registry().broken == {}


def test_a_broken_plugin_is_reported_and_skipped() -> None:
    reg = FormatRegistry()
    reg.record_broken("example", ImportError("no module named example_dep"))
    assert reg.broken == {"example": "ImportError: no module named example_dep"}
