"""The engine's compiled CPU loop: built on first use, the same numbers as the tensor operations,
and a clear fallback where it cannot be built. (Equality with the reference trainer, for every
loss and activation, is in test_engine.py.)"""

import copy
import ctypes
import os
import re
import subprocess
import sys
import weakref
from pathlib import Path

import pytest
import torch
from helpers import needs_compiler, random_digits

from mnist_mlp import MLP
from mnist_mlp.engine import Engine, native
from mnist_mlp.textbook.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, softmax_log_odds
from mnist_mlp.textbook.losses import LOG_FLOOR, LOSSES


@pytest.fixture
def fresh_library(monkeypatch, tmp_path):
    """``native.library`` as in a new process, building into an empty cache folder."""
    monkeypatch.setenv("MNIST_MLP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(native.build, "_private", None)  # no private folder made yet
    native.library.cache_clear()
    yield tmp_path / "cache"
    native.library.cache_clear()


def sparse_digits(n: int) -> torch.Tensor:
    return random_digits(n, zeros=0.8).images  # about 160 non-zero pixels, as in MNIST


@pytest.mark.parametrize("chunk", [2, 3, 4096])  # rows built a few images at a time, or at once
def test_sparse_rows_hold_exactly_the_non_zero_pixels(chunk):
    images = sparse_digits(7)
    images[3] = 0  # an empty image: an empty row
    rows = native.SparseRows.of(images, chunk=chunk)
    assert rows.row_start[0] == 0 and rows.row_start[-1] == len(rows.pixel) == len(rows.value)
    assert rows.row_start[4] == rows.row_start[3]
    dense = torch.zeros_like(images)
    for i in range(len(images)):
        span = slice(rows.row_start[i], rows.row_start[i + 1])
        dense[i, rows.pixel[span].long()] = rows.value[span]
    assert torch.equal(dense, images)


@needs_compiler
@pytest.mark.parametrize("hidden_size", [1, 7, 16, 37])  # below, at and across a block of units
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_native_epoch_equals_tensor_operations(hidden_size, dtype):
    """K = 3 networks with their own learning rates and orders; 103 images, so the last
    mini-batch has 3; W¹, b¹, W², b² and the mini-batch losses all agree."""
    images = sparse_digits(103).to(dtype)
    targets = torch.nn.functional.one_hot(torch.arange(103) % 10, 10).to(dtype)
    torch.manual_seed(0)
    models = [MLP(hidden_size, "tanh", "softmax", init="normal").to(dtype) for _ in range(3)]
    engines = [Engine(copy.deepcopy(models), [0.1, 0.5, 1.0], "mse", dtype=dtype,
                      native=compiled) for compiled in (False, True)]
    losses = [engine.epoch(images, targets, 10, [torch.Generator().manual_seed(s)
                                                 for s in range(3)]) for engine in engines]
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(losses[1], losses[0], rtol=rtol, atol=0)
    for name in ("W1", "b1", "W2", "b2"):
        ops, compiled = getattr(engines[0], name), getattr(engines[1], name)
        assert ((compiled - ops).abs().max() / ops.abs().max()).item() <= rtol, name


@needs_compiler
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_softmax_and_35_of_the_loop_equal_the_tensor_operations(dtype):
    """The loop's fused (BP1) for a softmax and (35), the largest output's row taken from z, and
    its loss taken of F: those of the tensor operations, for outputs close together and for
    outputs so far apart that 1 − F of the largest is subnormal (output weights × 1, 5, 20);
    three steps of 10 and the evaluation of 203 digits."""
    images = sparse_digits(30).to(dtype)
    targets = torch.nn.functional.one_hot(torch.arange(30) % 10, 10).to(dtype)
    torch.manual_seed(0)
    models = [MLP(37, "sigmoid", "softmax", init="normal").to(dtype) for _ in range(3)]
    with torch.no_grad():
        for model, scale in zip(models, (1.0, 5.0, 20.0), strict=True):
            model.output.weight.mul_(scale)
    engines = [Engine(copy.deepcopy(models), [0.5] * 3, "binary_cross_entropy", dtype=dtype,
                      native=compiled) for compiled in (False, True)]
    data = random_digits(203, dtype, zeros=0.8)
    evaluations = [engine.evaluate(data) for engine in engines]
    losses = [engine.epoch(images, targets, 10, [torch.Generator().manual_seed(s)
                                                 for s in range(3)]) for engine in engines]
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(losses[1], losses[0], rtol=rtol, atol=0)
    torch.testing.assert_close(evaluations[1][0], evaluations[0][0], rtol=rtol, atol=0)
    assert torch.equal(evaluations[1][1], evaluations[0][1])
    for name in ("W1", "b1", "W2", "b2"):
        ops, compiled = getattr(engines[0], name), getattr(engines[1], name)
        assert ((compiled - ops).abs().max() / ops.abs().max()).item() <= rtol, name
    with torch.no_grad():  # ln(1 − F) of the largest output, below −88: subnormal in float32
        for x in (images, data.images):
            assert softmax_log_odds(models[2].logits(x)).max() > 88


@needs_compiler
def test_the_loop_is_built_once_into_the_cache(fresh_library):
    assert native.library(torch.float64) is not None
    built = sorted(p.name for p in fresh_library.iterdir())
    assert len(built) == 1 and built[0].startswith("epoch-double-") and built[0].endswith(".so")
    native.library.cache_clear()
    assert native.library(torch.float64) is not None  # a new process finds it there
    assert sorted(p.name for p in fresh_library.iterdir()) == built


@needs_compiler
def test_a_compiler_without_march_native_builds_the_portable_loop(fresh_library, monkeypatch,
                                                                   tmp_path):
    wrapper = tmp_path / "cc-without-native"
    wrapper.write_text('#!/bin/sh\nfor a in "$@"; do [ "$a" = -march=native ] && exit 1; done\n'
                       f'exec {native.compiler()} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("CC", str(wrapper))
    lib = native.library(torch.float64)
    assert lib is not None and lib.flags == ("-O3",)
    assert native.describe().endswith(" -O3")


def test_without_a_compiler_the_engine_warns_and_uses_tensor_operations(fresh_library,
                                                                         monkeypatch):
    monkeypatch.setenv("CC", str(fresh_library / "no-such-cc"))
    with pytest.warns(UserWarning, match="could not be built.*tensor operations"):
        engine = Engine([MLP(3)], [0.1], "mse")
    assert engine.backend.name == "tensor-ops"
    with pytest.raises(RuntimeError, match="could not be built"):
        Engine([MLP(3)], [0.1], "mse", native=True)


def test_a_failing_build_says_why(fresh_library, monkeypatch):
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    assert native.library(torch.float32) is None
    assert "could not be built" in native.build.unavailable_reason
    assert not list(fresh_library.glob("*.so"))  # nothing half-written is left


def test_the_loop_can_be_turned_off(fresh_library, monkeypatch, recwarn):
    monkeypatch.setenv("MNIST_MLP_NATIVE", "0")
    assert Engine([MLP(3)], [0.1], "mse").backend.name == "tensor-ops"
    assert not recwarn.list  # turned off on purpose: no warning


def test_the_loop_runs_on_the_cpu_only():
    with pytest.raises(ValueError, match="CPU only"):
        Engine([MLP(3)], [0.1], "mse", device="meta", native=True)


def test_the_command_line_says_so_in_one_warning_line(fresh_library, monkeypatch, tiny_data,
                                                       capsys):
    from mnist_mlp.cli.train import main as train_main
    monkeypatch.setenv("CC", "false")
    assert train_main(["--engine", "fast", "--epochs", "1", "--hidden", "4", "--device", "cpu",
                       "--data-dir", str(tiny_data), "--validation-size", "20",
                       "--log-dir", ""]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: the native CPU loop could not be built: false failed")
    assert "UserWarning" not in err and err.count("\n") == 1


@needs_compiler
def test_unfit_tensors_are_refused_before_c_sees_them():
    images = sparse_digits(20).float()
    rows = native.SparseRows.of(images)
    targets, labels = torch.zeros(20, 10), torch.zeros(20, dtype=torch.int64)
    W1, b1, W2, b2 = torch.zeros(1, 5, 784), torch.zeros(1, 1, 5), torch.zeros(1, 10, 5), \
        torch.zeros(1, 1, 10)
    losses = torch.empty(1, 2)
    lib = native.library(torch.float32)
    args = dict(rows=rows, targets=targets, labels=labels, W1=W1, b1=b1, W2=W2, b2=b2,
                losses=losses)
    functions = native.Functions("sigmoid", "softmax", "log_likelihood", True)

    def train(**changes):
        a = args | changes
        params = native.Stacked(a["W1"], a["b1"], a["W2"], a["b2"])
        native.train_epochs(lib, a["rows"], a["targets"], [torch.Generator()], 10, [0.1],
                            functions, params, a["losses"])

    def evaluate(**changes):
        a = args | changes
        params = native.Stacked(a["W1"], a["b1"], a["W2"], a["b2"])
        native.evaluate_networks(lib, a["rows"], a["labels"], functions, params)

    train()  # fits
    evaluate()
    for changes in ({"W1": W1.double()}, {"targets": targets[:10]},
                    {"losses": torch.empty(1, 3)}, {"W2": torch.zeros(1, 10, 6)},
                    {"W1": torch.zeros(1, 784, 5).mT}):
        with pytest.raises(ValueError, match="native loop got"):
            train(**changes)
    for changes in ({"labels": labels[:5]}, {"labels": labels + 10}, {"W1": W1.double()}):
        with pytest.raises(ValueError, match="native loop got"):
            evaluate(**changes)


@needs_compiler
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("loss", ["mse", "mae", "binary_cross_entropy", "log_likelihood"])
@pytest.mark.parametrize(("hidden", "scale"), [(37, 1.0), (30, 1.0), (37, 100.0)])
def test_native_evaluation_equals_the_dense_one(dtype, loss, hidden, scale):
    """The compiled forward pass over a split's sparse rows gives the loss and confusion matrix
    of the batched matrix products, to rounding: hidden units in one, two or three blocks
    (summed in pairs of blocks), and weights so large that σ's exponential overflows.

    The evaluation rounds otherwise than the dense products (its own vectorised exp, W² summed
    column by column), so a digit whose two largest outputs lie within a rounding of each other
    may be predicted otherwise: each confusion matrix may move up to ``MOVED`` digits from one
    predicted class to another, never from one true class to another; the mean loss agrees to
    1e-5 relative in float32, 1e-12 in float64."""
    data = random_digits(203, dtype, zeros=0.8)
    torch.manual_seed(0)
    models = [MLP(hidden, "sigmoid", "sigmoid", init="normal").to(dtype) for _ in range(3)]
    with torch.no_grad():
        for model in models:
            model.hidden.weight.mul_(scale)
    engine = Engine(models, [0.1] * 3, loss, dtype=dtype)
    assert engine.backend.name == "native"
    losses, confusions = engine.evaluate(data)
    dense_losses, dense_confusions = engine.dense_evaluate(data)
    torch.testing.assert_close(losses, dense_losses, rtol=1e-12 if dtype == torch.float64
                               else 1e-5, atol=0)
    assert torch.equal(confusions.sum(dim=2), dense_confusions.sum(dim=2))  # the true classes
    moved = (confusions - dense_confusions).abs().sum(dim=(1, 2)) // 2
    assert moved.max() <= MOVED, f"{moved.tolist()} digits predicted otherwise"
    assert confusions.sum(dim=(1, 2)).tolist() == [203] * 3


MOVED = 2
"""The digits out of 203 whose predicted class the native evaluation may change by rounding."""


@needs_compiler
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("hidden", sorted(HIDDEN_ACTIVATIONS))
@pytest.mark.parametrize(("output", "loss"), [(o, loss) for o in sorted(OUTPUT_ACTIVATIONS)
                                              for loss in sorted(LOSSES)])
def test_every_output_and_hidden_activation_evaluates_as_the_dense_one(dtype, hidden, output,
                                                                       loss):
    """Every hidden activation (the sigmoid by its vectorised exp, the others by the training's
    functions) and every output and loss (softmax and the cross-entropy (35) among them): the
    loss and the confusion matrix of the dense evaluation, to the tolerances above."""
    data = random_digits(101, dtype, zeros=0.8)
    torch.manual_seed(1)
    models = [MLP(19, hidden, output, init="normal").to(dtype) for _ in range(2)]
    engine = Engine(models, [0.1] * 2, loss, dtype=dtype)
    assert engine.backend.name == "native"
    (losses, confusions), (dense_losses, dense_confusions) = (engine.evaluate(data),
                                                              engine.dense_evaluate(data))
    torch.testing.assert_close(losses, dense_losses, rtol=1e-12 if dtype == torch.float64
                               else 1e-5, atol=0)
    assert torch.equal(confusions.sum(dim=2), dense_confusions.sum(dim=2))
    assert ((confusions - dense_confusions).abs().sum(dim=(1, 2)) // 2).max() <= MOVED


@needs_compiler
def test_sparse_rows_are_never_those_of_images_freed_before():
    """The loop keeps each set of images' sparse rows by its address: the images are held with
    them, so no new tensor can be made at that address and be read as the old digits; only the
    ``KEPT`` latest sets are kept, the oldest let go."""
    engine = Engine([MLP(8)], [0.1], "binary_cross_entropy", dtype=torch.float32)
    assert engine.backend.name == "native"
    first = random_digits(50, torch.float32).images
    rows = engine.backend.sparse(first)
    held = weakref.ref(first)
    del first
    assert held() is not None  # its memory cannot be taken by another tensor
    assert engine.backend.sparse(held()) is rows
    others = [random_digits(50 + k, torch.float32).images for k in range(native.KEPT)]
    for images in others:
        engine.backend.sparse(images)
    assert held() is None and len(engine.backend.sparse.rows) == native.KEPT


@needs_compiler
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_c_enum_tables_name_every_activation_and_loss(dtype):
    """The loop's enums, read from its tables of names (kinds.h's), cover the package's names
    exactly (its losses: as ``c_loss`` names them; a name added in Python only fails here until
    its C cases are written, CONTRIBUTING.md), and its clamp of ln is the textbook's."""
    lib = native.library(dtype)
    assert set(lib.enums["hidden"]) == set(HIDDEN_ACTIVATIONS)
    assert set(lib.enums["output"]) == set(OUTPUT_ACTIVATIONS)
    assert set(lib.enums["loss"]) == {native.c_loss(output, loss) for output in OUTPUT_ACTIVATIONS
                                      for loss in LOSSES}
    assert ctypes.c_double.in_dll(lib, "LOG_FLOOR").value == LOG_FLOOR
    assert [list(values.values()) for values in lib.enums.values()] == [
        list(range(len(values))) for values in lib.enums.values()]


ROOT = Path(__file__).resolve().parents[1]


def without_comments(code: str) -> str:
    """C or Python ``code`` without its comments and docstrings (roughly: enough to tell a name
    used from a name mentioned)."""
    code = re.sub(r"/\*.*?\*/|//[^\n]*", " ", code, flags=re.S)
    return re.sub(r'""".*?"""|#[^\n]*', " ", code, flags=re.S)


def test_the_checklist_for_adding_a_loss_or_an_activation_names_the_code():
    """CONTRIBUTING.md's list of where a loss or an activation is written: every file it names
    exists (under mnist_mlp/, or tests/), and every name it gives after a file is in that
    file's code."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    checklist = text[text.index("## Adding a loss or an activation"):]
    named, where = 0, None
    for token in re.findall(r"`([^`]+)`", checklist):
        if re.fullmatch(r"[\w/]+\.(py|c|cu|h)", token):
            where = ROOT / token if token.startswith("tests/") else ROOT / "mnist_mlp" / token
            assert where.is_file(), token
            code = without_comments(where.read_text())
        elif where is not None and re.fullmatch(r"(enum )?\w+", token):
            assert re.search(rf"\b{token}\b", code), f"{token} is not in {where}"
            named += 1
    assert named >= 24  # the list was read (each enum and table named once, in kinds.h)


def enums_and_tables(code: str) -> dict[str, tuple[list[str], list[str]]]:
    """The constants of each enum in C ``code`` and the names of its table, by enum: the
    constant HIDDEN_TANH as "tanh", to compare with its name (an enum or table not there: [])."""
    found = {}
    for enum, prefix, table in (("hidden_activation", "HIDDEN_", "HIDDEN_NAMES"),
                                ("output_activation", "OUTPUT_", "OUTPUT_NAMES"),
                                ("loss", "LOSS_", "LOSS_NAMES")):
        constants = re.search(rf"enum {enum} {{([^}}]*)}}", code)
        names = re.search(rf"{table}\[\] = {{([^}}]*)}}", code)
        found[enum] = ([c.removeprefix(prefix).lower() for c in re.findall(r"\w+", constants[1])]
                       if constants else [], re.findall(r'"(\w+)"', names[1]) if names else [])
    return found


def test_each_c_enum_and_its_table_of_names_agree():
    """The enums and their tables of names are written once, in native/kinds.h, which the CPU
    loop and the kernel include (neither writes its own), and each enum and its table are one
    list: the constant HIDDEN_TANH is named "tanh", at the same place."""
    for source in ("native/epoch.c", "fused/epoch.cu"):
        text = (ROOT / "mnist_mlp/engine" / source).read_text()
        assert re.search(r'^#include "kinds.h"$', text, flags=re.M), source
        assert all(found == ([], []) for found in
                   enums_and_tables(without_comments(text)).values()), source
    for enum, (constants, names) in enums_and_tables(
            without_comments(native.build.KINDS.read_text())).items():
        assert constants and constants == names, enum


@needs_compiler
@pytest.mark.parametrize("struct", ["args_type", "eval_args_type"])
@pytest.mark.parametrize("change", ["one field forgotten", "two fields swapped"])
def test_a_struct_laid_out_otherwise_is_refused(monkeypatch, struct, change):
    """The arguments travel in one struct per C function, whose layout is checked against the
    compiled one: a field out of place is refused before any call."""
    lib = native.library(torch.float32)
    fields = list(getattr(lib, struct)._fields_)
    if change == "one field forgotten":
        del fields[9]  # the fields after it shift
    else:
        pointer = next(i for i, (_, kind) in enumerate(fields) if kind is ctypes.c_void_p)
        fields[pointer], fields[pointer + 1] = fields[pointer + 1], fields[pointer]
        fields.insert(pointer, ("pad", ctypes.c_int32))  # and one more, so the offsets move

    class Shifted(ctypes.Structure):
        _fields_ = fields

    monkeypatch.setattr(lib, struct, Shifted)
    with pytest.raises(RuntimeError, match="does not match its Python caller"):
        native.build._check_layout(lib)


@needs_compiler
def test_a_field_added_to_a_c_struct_is_one_line_of_c(tmp_path, monkeypatch):
    """A field added to epoch.c's list EPOCH_ARGS, one line, is a field of the Python caller's
    struct too, at the offset the compiler gives it: the library passes its layout check."""
    source = tmp_path / "epoch.c"
    line = "    FIELD(REAL, lr)"
    source.write_text(native.build.SOURCE.read_text().replace(
        line, "    FIELD(int32_t, extra) /* new */ \\\n" + line, 1))
    monkeypatch.setattr(native.build, "SOURCE", source)
    library = tmp_path / "epoch.so"
    native.build.compile_c(native.compiler(), ["-DREAL=float"], source, library)
    lib = native.build._loaded(library, (), ctypes.c_float)
    assert [name for name, _ in lib.args_type._fields_][7:10] == ["order", "extra", "lr"]
    with pytest.raises(ValueError, match="a type Python does not know: size_t"):
        native.build.struct_fields("#define ARGS(FIELD) FIELD(size_t, n)", "ARGS")


def cached_library(folder, real="double"):
    """Where the loop for ``real`` is cached in ``folder`` (the first flags'), folder made."""
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / native.library_name(native.compiler(), native.FLAG_SETS[0], real)


@needs_compiler
@pytest.mark.parametrize("broken", ["empty", "another layout", "not the loop"])
def test_a_broken_cached_library_is_built_again(fresh_library, tmp_path, recwarn, broken):
    """A cached library that cannot be loaded (an empty file: a full disk, a killed build), is
    laid out otherwise (built for float, under double's name) or holds no loop: removed and
    built again, once, without a word; the loop works."""
    target = cached_library(fresh_library)
    if broken == "empty":
        target.write_bytes(b"")
    else:
        source = tmp_path / "other.c"
        source.write_text("int nothing(void) { return 0; }\n")
        real, code = ("float", native.build.SOURCE) if broken == "another layout" else (
            "double", source)
        subprocess.run([native.compiler(), "-shared", "-fPIC", f"-DREAL={real}", "-o",
                        str(target), str(code), "-lm"], check=True)
    lib = native.library(torch.float64)
    assert lib is not None and lib.enums["loss"] and not recwarn.list
    assert target.stat().st_size > 0 and [p.name for p in fresh_library.iterdir()] == [
        target.name]
    native.library.cache_clear()
    assert native.library(torch.float64) is not None  # the next process loads it as it is


def compiler_wrapper(tmp_path, body: str) -> str:
    """A "compiler" that runs ``body`` (sh), where $out is the library to write and $src the
    source, and the real compiler is $CC_REAL."""
    wrapper = tmp_path / "cc-wrapper"
    wrapper.write_text('#!/bin/sh\nout=; src=; prev=\nfor a in "$@"; do [ "$prev" = -o ] && '
                       'out=$a; case $a in *.c) src=$a;; esac; prev=$a; done\n'
                       f'CC_REAL={native.compiler()}\n{body}\n')
    wrapper.chmod(0o755)
    return str(wrapper)


@needs_compiler
@pytest.mark.parametrize("build", ["an empty library", "other enums"])
def test_a_compiler_that_builds_a_broken_library_falls_back(fresh_library, tmp_path,
                                                             monkeypatch, build):
    """A compiler that exits 0 but writes an empty library, or builds a loop whose enums name
    other functions: the engine warns once and uses tensor operations; nothing is cached."""
    if build == "an empty library":
        body = ': > "$out"'
    else:  # "tanh" renamed: every later hidden activation would be called by another's number
        body = ('d="$out.d"; mkdir "$d"; cp "$src" "$d/"; sed \'s/"tanh"/"tanh2"/\' '
                f'"{native.build.KINDS}" > "$d/kinds.h"\n'
                'for a in "$@"; do shift; case $a in *.c) set -- "$@" "$d/${a##*/}";; '
                '*) set -- "$@" "$a";; esac; done\n'
                '"$CC_REAL" "$@"; status=$?; rm -rf "$d"; exit $status')
    monkeypatch.setenv("CC", compiler_wrapper(tmp_path, body))
    with pytest.warns(UserWarning, match="could not be built.*tensor operations") as caught:
        engine = Engine([MLP(3)], [0.1], "mse")
    assert len(caught) == 1 and engine.backend.name == "tensor-ops"
    reason = native.build.unavailable_reason
    assert ("cannot be loaded" if build == "an empty library" else "tanh2") in reason
    assert not list(fresh_library.iterdir())  # nothing broken is cached


def plant_library(folder, marker, tmp_path):
    """A library under the name the loop would have in ``folder``, whose code, if loaded,
    creates the file ``marker``."""
    source = tmp_path / "planted.c"
    source.write_text('#include <stdio.h>\n__attribute__((constructor)) static void run(void) '
                      f'{{ FILE *f = fopen("{marker}", "w"); if (f) fclose(f); }}\n')
    folder.mkdir(mode=0o700, exist_ok=True)
    planted = folder / native.library_name(native.compiler(), native.FLAG_SETS[0], "double")
    subprocess.run([native.compiler(), "-shared", "-fPIC", "-o", str(planted), str(source)],
                   check=True)
    return planted


@needs_compiler
@pytest.mark.parametrize("weakness", ["a folder others can write", "a file others can write",
                                      "a file of another user"])
def test_a_library_planted_in_the_cache_is_never_loaded(fresh_library, tmp_path, weakness):
    marker = tmp_path / "planted-code-ran"
    planted = plant_library(fresh_library, marker, tmp_path)
    if weakness == "a folder others can write":
        fresh_library.chmod(0o777)
    elif weakness == "a file others can write":
        planted.chmod(0o666)
    elif os.getuid() == 0:
        os.chown(planted, 65534, 65534)  # nobody
    else:
        pytest.skip("giving a file to another user needs root")
    with pytest.warns(UserWarning, match="built in the private folder"):
        lib = native.library(torch.float64)
    assert lib is not None and lib.enums["loss"]  # a loop of our own, built elsewhere
    assert not marker.exists(), "the planted library's code ran"


@needs_compiler
@pytest.mark.parametrize("sticky", [False, True])
def test_a_cache_below_a_folder_others_can_write_is_used_only_if_sticky(fresh_library, tmp_path,
                                                                       monkeypatch, sticky):
    """Whoever can write a folder above the cache could swap the cache for a folder of their own
    between the check and the load; in a sticky folder, as /tmp, they cannot."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777 if sticky else 0o777)
    monkeypatch.setenv("MNIST_MLP_CACHE", str(shared / "cache"))
    if sticky:
        assert native.library(torch.float64) is not None
        assert [p.suffix for p in (shared / "cache").iterdir()] == [".so"]
        return
    with pytest.warns(UserWarning, match=r"lies in .*shared, which other users can write"):
        assert native.library(torch.float64) is not None
    assert list((shared / "cache").iterdir()) == []  # built in a private folder instead


@needs_compiler
def test_the_private_folder_used_instead_is_removed_when_the_process_ends(tmp_path):
    """Built in a private folder (the cache refused), a process leaves no folder behind."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    program = ("import torch, warnings; from mnist_mlp.engine import native\n"
               "warnings.simplefilter('ignore')\n"
               "assert native.library(torch.float64) is not None\n"
               "print(native.build._private)")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          check=True, env=os.environ | {"MNIST_MLP_CACHE": str(shared / "c"),
                                                        "OMP_NUM_THREADS": "1"})
    private = Path(done.stdout.strip())
    assert private.name.startswith("mnist-mlp-") and not private.exists()


@needs_compiler
def test_a_private_cache_of_ours_is_used_as_it_is(fresh_library, tmp_path, recwarn):
    native.library(torch.float64)
    assert [p.suffix for p in fresh_library.iterdir()] == [".so"]
    assert fresh_library.stat().st_mode & 0o777 == 0o700
    assert not [w for w in recwarn if "private folder" in str(w.message)]
