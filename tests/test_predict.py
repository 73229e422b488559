"""Using a checkpoint: evaluate on the test set, and read digits from image files like MNIST's."""

import io
import json
import os
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_mlp import MLP, TrainConfig, train
from mnist_mlp.cli.evaluate import main as evaluate_main
from mnist_mlp.cli.predict import main as predict_main
from mnist_mlp.data import load_mnist
from mnist_mlp.data.images import ImageError, prepare_image
from mnist_mlp.inference import predict
from mnist_mlp.training.checkpoints import BEST, LAST


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    return train(TrainConfig(hidden_size=16, epochs=2, device="cpu", data_dir=str(tiny_data),
                             validation_size=50, log_dir=str(tmp_path_factory.mktemp("runs"))))


def a_seven(height=300, width=200, ink=20, paper=240):
    """A dark "7" on light paper, off-centre in a large image: a bar and a slanted stroke."""
    image = np.full((height, width), paper, dtype=np.uint8)
    image[40:60, 30:150] = ink
    for row in range(60, 220):
        column = 150 - (row - 60) * 90 // 160
        image[row, column - 10:column + 10] = ink
    return image


def grid(x):
    return x.reshape(28, 28)


def _save(path, array):
    Image.fromarray(array).save(path)
    return path


def test_prepared_image_looks_like_mnist(tmp_path):
    path = tmp_path / "seven.png"
    Image.fromarray(a_seven()).save(path)
    x = prepare_image(path)
    assert x.shape == (784,) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() < 1 and x.max() > 0.9  # uint8/256, the ink bright
    assert torch.equal(x * 256, (x * 256).round())
    ink = (grid(x) > 0.1).nonzero()
    height, width = (ink.max(0).values - ink.min(0).values + 1).tolist()
    assert max(height, width) in (20, 21)  # the longer side scaled to 20 pixels
    assert grid(x)[0].sum() == 0 and grid(x)[:, 0].sum() == 0  # a black border
    rows, columns = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    mass = grid(x).sum()
    assert abs((rows * grid(x)).sum() / mass - 14) < 0.6
    assert abs((columns * grid(x)).sum() / mass - 14) < 0.6


def test_polarity_colour_jpeg_and_transparency_give_the_same_digit(tmp_path):
    seven = a_seven()
    Image.fromarray(seven).save(tmp_path / "dark_on_light.png")
    Image.fromarray(255 - seven).save(tmp_path / "light_on_dark.png")
    Image.fromarray(seven).convert("RGB").save(tmp_path / "colour.jpg", quality=95)
    rgba = np.zeros((*seven.shape, 4), dtype=np.uint8)  # black ink, transparent paper
    rgba[..., 3] = np.where(seven < 128, 255, 0)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "transparent.png")
    reference = prepare_image(tmp_path / "dark_on_light.png")
    for name in ("light_on_dark.png", "colour.jpg", "transparent.png"):
        other = prepare_image(tmp_path / name)
        assert (other - reference).abs().mean() < 0.02, name


def test_an_mnist_digit_is_left_almost_as_it_is(tmp_path):
    path = tmp_path / "digit.png"
    first = prepare_image(_save(tmp_path / "seven.png", a_seven()))
    Image.fromarray((grid(first) * 256).to(torch.uint8).numpy()).save(path)
    assert (prepare_image(path) - first).abs().max() < 0.05


@pytest.mark.parametrize("mode", ["I;16", "I"])
def test_a_16_bit_image_is_read_as_its_8_bit_copy(tmp_path, mode):
    """A 16-bit grayscale PNG (Pillow's I;16) or an image of 32-bit levels 0…65535 (I, as a TIFF
    holds it): the same digit as the 8-bit image, not its levels clipped at 255 — which would
    leave two grey levels, the bright ink read at half its brightness."""
    seven = a_seven(ink=60, paper=200)  # grey ink on grey paper: the levels matter
    reference = prepare_image(_save(tmp_path / "eight.png", seven))
    levels = seven.astype(np.uint16 if mode == "I;16" else np.int32) * 257
    path = tmp_path / ("sixteen.png" if mode == "I;16" else "levels.tif")
    Image.fromarray(levels).save(path)
    assert Image.open(path).mode == mode
    assert torch.equal(prepare_image(path), reference)
    assert reference.max() > 0.9


def test_white_ink_on_a_transparent_canvas_is_read(tmp_path):
    """As a drawing program exports a white stroke on a transparent canvas."""
    seven = a_seven()
    rgba = np.zeros((*seven.shape, 4), dtype=np.uint8)
    rgba[..., :3] = 255  # white ink…
    rgba[..., 3] = np.where(seven < 128, 255, 0)  # …opaque only where the digit is
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "white_ink.png")
    reference = prepare_image(_save(tmp_path / "dark_on_light.png", seven))
    assert (prepare_image(tmp_path / "white_ink.png") - reference).abs().mean() < 0.02


def test_an_image_too_large_to_decode_safely_is_refused_unread(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (8000, 6000), 255).save(path)  # 48 million pixels, a small file
    with pytest.raises(ImageError, match=r"more than 40,000,000 pixels \(8000×6000\), too many"):
        prepare_image(path)


def test_unreadable_and_blank_images_raise(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageError, match="cannot read image"):
        prepare_image(tmp_path / "junk.png")
    with pytest.raises(ImageError, match="no such file"):
        prepare_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="blank"):
        prepare_image(_save(tmp_path / "blank.png", np.full((30, 30), 255, np.uint8)))


def damaged_files(folder):
    """Images damaged as a hostile file would be, each making Pillow raise something other than
    OSError or ValueError: a PNG chunk of the wrong length (SyntaxError), a JPEG whose EXIF
    field has the wrong type (struct.error)."""
    image = Image.fromarray(a_seven())
    png = io.BytesIO()
    image.save(png, "PNG")
    data = bytearray(png.getvalue())
    at = data.index(b"IDAT") - 4
    data[at:at + 4] = struct.pack(">I", struct.unpack(">I", data[at:at + 4])[0] - 8)
    (folder / "chunk.png").write_bytes(bytes(data))
    exif = image.getexif()
    exif[0x0112], exif[0x010E] = 6, "description"
    jpeg = io.BytesIO()
    image.save(jpeg, "JPEG", exif=exif)
    data = bytearray(jpeg.getvalue())
    data[data.index(b"\x01\x0e\x00\x02") + 1] = 0x1C  # the field's type: one that is none
    (folder / "exif.jpg").write_bytes(bytes(data))
    return [folder / "chunk.png", folder / "exif.jpg"]


def test_a_damaged_image_is_an_image_error_whatever_pillow_raises(tmp_path):
    for path in damaged_files(tmp_path):
        with pytest.raises(ImageError, match=f"cannot read image {path}"):
            prepare_image(path)


def test_sigmoid_outputs_are_normalised():
    torch.manual_seed(0)
    softmax, sigmoid = MLP(8), MLP(8, output_activation="sigmoid")
    x = torch.rand(3, 784)
    for model, normalised in ((softmax, False), (sigmoid, True)):
        for prediction in predict(model, x):
            assert prediction.normalised is normalised
            assert sum(prediction.probabilities) == pytest.approx(1.0)
            assert prediction.digit == int(np.argmax(prediction.outputs))


def test_cli_predict_prints_digit_and_ten_probabilities(run, tmp_path, capsys):
    image = _save(tmp_path / "seven.png", a_seven())
    assert predict_main([str(run.run_dir), str(image), str(image)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[0].startswith(f"{image}: ")
    probabilities = [float(part.split(": ")[1]) for part in lines[1].split("  ") if part]
    assert len(probabilities) == 10 and sum(probabilities) == pytest.approx(1.0, abs=0.01)
    assert predict_main(["--json", str(run.run_dir / LAST), str(image)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["checkpoint"]["path"].endswith(LAST)
    assert len(data["predictions"]) == 1 and len(data["predictions"][0]["probabilities"]) == 10


def test_cli_predict_unreadable_image_is_one_line(run, tmp_path, capsys):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    assert predict_main([str(run.run_dir), str(tmp_path / "broken.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "broken.jpg" in err


def test_cli_predict_answers_the_readable_images_and_names_the_others(run, tmp_path, capsys):
    good = str(_save(tmp_path / "seven.png", a_seven()))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff garbage")
    argv = [str(run.run_dir), good, str(broken), str(tmp_path / "missing.png"), good]
    assert predict_main(argv) == 2
    out, err = capsys.readouterr()
    assert [line.split(": ")[0] for line in out.splitlines() if not line.startswith(" ")] == \
        [good, good]
    assert err.splitlines() == [f"error: cannot read image {broken}: it is not an image file "
                                "Pillow knows; give a PNG or JPEG of a digit",
                                f"error: cannot read image {tmp_path / 'missing.png'}: no such "
                                "file"]
    assert predict_main(["--json", *argv]) == 2
    out, err = capsys.readouterr()
    answers = json.loads(out)["predictions"]
    assert [sorted(answer) for answer in answers] == [
        ["digit", "image", "normalised", "outputs", "probabilities"], ["error", "image"],
        ["error", "image"], ["digit", "image", "normalised", "outputs", "probabilities"]]
    assert answers[1]["error"] in err and err.count("\n") == 2


def test_cli_evaluate_table_and_json(run, tiny_data, capsys):
    assert evaluate_main([str(run.run_dir), "--data-dir", str(tiny_data), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"{BEST}: 784-16-10 (sigmoid hidden, softmax output)" in out
    for text in ("test loss (binary_cross_entropy)", "precision", "specificity", "macro avg",
                 "accuracy:", "confusion matrix"):
        assert text in out
    assert evaluate_main([str(run.run_dir / LAST), "--data-dir", str(tiny_data), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"] == 100 and len(data["confusion"]) == 10
    assert data["accuracy"] == pytest.approx(run.history[-1].test_accuracy)
    assert data["loss"] == pytest.approx(run.history[-1].test_loss)
    assert data["loss_function"] == "binary_cross_entropy"
    assert data["checkpoint"]["epoch"] == 2 and data["checkpoint"]["path"].endswith(LAST)


@pytest.mark.skipif(not os.environ.get("MNIST_DATA"), reason="MNIST_DATA not set")
def test_real_digits_redrawn_as_photos_are_read_alike(tmp_path):
    """Test digits enlarged, inverted, moved off-centre and saved as JPEG: the network reads
    them as it reads the originals."""
    result = train(TrainConfig(epochs=1, train_size=5000, device="cpu", log_dir=None))
    test = load_mnist(None, train_size=1, validation_size=0).test
    rng = np.random.default_rng(0)
    paths = []
    for i in range(50):
        digit = (test.images[i] * 256).reshape(28, 28).to(torch.uint8).numpy()
        big = Image.fromarray(255 - digit).resize((140, 140), Image.Resampling.BICUBIC)
        paper = Image.new("L", (300, 220), 235)
        paper.paste(big, (int(rng.integers(0, 160)), int(rng.integers(0, 80))))
        paths.append(tmp_path / f"{i}.jpg")
        paper.convert("RGB").save(paths[-1], quality=85)
    redrawn = predict(result.model, torch.stack([prepare_image(p) for p in paths]))
    original = predict(result.model, test.images[:50])
    agree = sum(a.digit == b.digit for a, b in zip(redrawn, original, strict=True))
    assert agree >= 45
