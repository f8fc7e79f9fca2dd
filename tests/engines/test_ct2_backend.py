"""The CTranslate2 backend's CPU compute types and CPU kernels: pure functions of the CPU's
flags and what the installed CTranslate2 offers, so every machine is tested here by passing
them in."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.device import DeviceChoice, PrecisionUnavailableError
from service.engines import ct2_backend
from service.engines.ct2_backend import (
    AVX512_FLAGS,
    ISA_ENV,
    cpu_auto_precision,
    cpu_isa,
    cpu_precisions,
)
from service.engines.loader import ModelLoadError, ModelSource
from service.engines.registry import load_engine, resolve_precision

AVX2 = {"sse4_2", "avx", "avx2", "fma"}
CT2_ONEDNN = {"float32", "int8", "int8_float32"}  # a CTranslate2 build without bfloat16
CT2_MKL = {"float32", "int8", "int8_float32", "int8_bfloat16", "bfloat16"}


@pytest.mark.parametrize(
    ("flags", "supported", "offered"),
    [
        (AVX2, CT2_MKL, False),  # no bfloat16 arithmetic on the CPU
        (AVX2 | {"avx512f", "avx512_bf16"}, CT2_MKL, True),
        (AVX2 | {"amx_bf16", "amx_tile"}, CT2_MKL, True),
        (AVX2 | {"avx512_bf16"}, CT2_ONEDNN, False),  # the CPU could, the build does not
        (set(), set(), False),  # nothing known: the safe table
    ],
)
def test_int8_bfloat16_is_offered_where_cpu_and_build_both_have_it(
    flags: set[str], supported: set[str], offered: bool
) -> None:
    precisions = cpu_precisions(flags, supported)
    assert ("int8_bfloat16" in precisions) is offered
    assert precisions[:2] == ("float32", "int8")


@pytest.mark.parametrize("flags", [AVX2, AVX2 | {"avx512_bf16"}, AVX2 | {"amx_bf16"}])
def test_auto_stays_int8_on_every_cpu(flags: set[str]) -> None:
    assert cpu_auto_precision(flags, CT2_MKL) == "int8"


def test_this_machine_follows_its_own_probe() -> None:
    flags, supported = ct2_backend.machine_cpu()
    assert resolve_precision("ctranslate2", "cpu", "auto") == "int8"
    if "int8_bfloat16" in cpu_precisions(flags, supported):
        assert resolve_precision("ctranslate2", "cpu", "int8_bfloat16") == "int8_bfloat16"
    else:
        with pytest.raises(PrecisionUnavailableError, match="AVX-512 BF16 or AMX"):
            resolve_precision("ctranslate2", "cpu", "int8_bfloat16")


def test_int8_bfloat16_is_refused_by_transformers() -> None:
    with pytest.raises(PrecisionUnavailableError, match="CTranslate2 compute type"):
        resolve_precision("transformers", "cpu", "int8_bfloat16")


@pytest.mark.parametrize(
    ("setting", "flags", "environ", "chosen"),
    [
        ("auto", AVX2 | AVX512_FLAGS, {}, "AVX512"),
        ("auto", AVX2 | {"avx512f"}, {}, None),  # AVX-512 F alone: not what the kernels need
        ("auto", AVX2, {}, None),  # the library's choice
        ("auto", AVX2 | AVX512_FLAGS, {ISA_ENV: "AVX2"}, None),  # the variable, set, wins
        ("library", AVX2 | AVX512_FLAGS, {}, None),
        ("AVX2", AVX2 | AVX512_FLAGS, {ISA_ENV: "AVX512"}, "AVX2"),  # a name is that name
        ("GENERIC", set(), {}, "GENERIC"),
    ],
)
def test_the_cpu_kernels_follow_the_setting_the_flags_and_the_environment(
    setting: str, flags: set[str], environ: dict[str, str], chosen: str | None
) -> None:
    assert cpu_isa(setting, flags, environ) == chosen


def test_a_kernel_set_the_cpu_lacks_is_refused_by_name() -> None:
    with pytest.raises(ModelLoadError, match="DEPECHE_CT2_CPU_ISA=AVX512, but this CPU lacks"):
        cpu_isa("AVX512", AVX2 | {"avx512f"}, {})


def test_apply_cpu_isa_sets_the_variable_ctranslate2_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ISA_ENV, raising=False)
    monkeypatch.setattr(ct2_backend, "machine_cpu", lambda: (AVX2 | AVX512_FLAGS, frozenset()))
    ct2_backend.apply_cpu_isa("library")
    assert ISA_ENV not in ct2_backend.os.environ
    ct2_backend.apply_cpu_isa("auto")
    assert ct2_backend.os.environ[ISA_ENV] == "AVX512"
    ct2_backend.apply_cpu_isa("AVX2")
    assert ct2_backend.os.environ[ISA_ENV] == "AVX2"


def test_a_ctranslate2_load_on_the_cpu_applies_the_setting_first(
    ct2_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(ct2_backend, "apply_cpu_isa", asked.append)
    source = ModelSource("translation", str(ct2_models / "translation"), "local", True, None)
    engine = load_engine(
        source,
        DeviceChoice("cpu", "float32"),
        offline=True,
        hub_timeout_s=1,
        engine="ctranslate2",
        cpu_isa="AVX2",
    )
    assert engine.info.engine == "ctranslate2"
    assert asked == ["AVX2"]
