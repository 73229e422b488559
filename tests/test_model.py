"""The 784-l-10 model: shapes, names, activations, initialisation, argument checks."""

import pytest
import torch

from mnist_mlp import MLP
from mnist_mlp.textbook.model import INITS


def test_parameter_names_and_shapes():
    model = MLP(30)
    shapes = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    assert shapes == {"hidden.weight": (30, 784), "hidden.bias": (30,),
                      "output.weight": (10, 30), "output.bias": (10,)}


@pytest.mark.parametrize("shape", [(4, 784), (4, 28, 28), (4, 1, 28, 28)])
def test_input_shapes(shape):
    torch.manual_seed(0)
    model = MLP(5)
    x = torch.rand(shape)
    out = model(x)
    assert out.shape == (4, 10)
    torch.testing.assert_close(out, model(x.reshape(4, 784)))


def test_softmax_output_is_a_distribution_and_logits_are_its_preactivation():
    torch.manual_seed(0)
    model = MLP(8)
    x = torch.rand(3, 784)
    torch.testing.assert_close(model(x).sum(dim=1), torch.ones(3))
    torch.testing.assert_close(model(x), torch.softmax(model.logits(x), dim=1))


@pytest.mark.parametrize(("activation", "fn"),
                         [("sigmoid", torch.sigmoid), ("tanh", torch.tanh), ("relu", torch.relu)])
@pytest.mark.parametrize("output_activation", ["sigmoid", "softmax"])
def test_forward_is_the_textbook_formula(activation, fn, output_activation):
    torch.manual_seed(0)
    model = MLP(6, activation, output_activation)
    x = torch.rand(2, 784)
    a1 = fn(x @ model.hidden.weight.T + model.hidden.bias)
    z2 = a1 @ model.output.weight.T + model.output.bias
    F = torch.sigmoid(z2) if output_activation == "sigmoid" else torch.softmax(z2, dim=1)
    torch.testing.assert_close(model(x), F)


def test_normal_init_statistics():
    torch.manual_seed(0)
    model = MLP(100, init="normal")
    w, b = model.hidden.weight, model.hidden.bias
    assert abs(w.mean().item()) < 0.02 and abs(w.std().item() - 1) < 0.02  # 78,400 draws
    assert abs(b.std().item() - 1) < 0.3
    assert abs(model.output.weight.std().item() - 1) < 0.1


def test_scaled_normal_init_statistics():
    torch.manual_seed(0)
    model = MLP(100, init="scaled_normal")
    assert abs(model.hidden.weight.std().item() * 28 - 1) < 0.02  # std 1/√784
    assert abs(model.output.weight.std().item() * 10 - 1) < 0.1   # std 1/√100
    assert abs(model.hidden.bias.std().item() - 1) < 0.3


def test_pytorch_init_is_bounded_uniform():
    torch.manual_seed(0)
    model = MLP(30, init="pytorch")
    assert model.hidden.weight.abs().max().item() <= 1 / 28
    assert model.output.weight.abs().max().item() <= 30 ** -0.5


def test_same_seed_same_network():
    for init in INITS:
        torch.manual_seed(7)
        a = MLP(10, init=init)
        torch.manual_seed(7)
        b = MLP(10, init=init)
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            assert torch.equal(p, q)


def test_config_rebuilds():
    model = MLP(12, "tanh", "sigmoid", "normal")
    assert MLP(**model.architecture()).architecture() == model.architecture()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"hidden_size": 0}, "hidden_size"),
    ({"hidden_size": -3}, "hidden_size"),
    ({"hidden_size": 2.5}, "hidden_size"),
    ({"activation": "softplus"}, "sigmoid, tanh, relu"),
    ({"output_activation": "tanh"}, "softmax, sigmoid"),
    ({"init": "xavier"}, "pytorch, normal, scaled_normal"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP(**kwargs)


def test_bad_input_shape():
    with pytest.raises(ValueError, match="784"):
        MLP(3)(torch.rand(2, 27, 27))


def test_importable_from_package():
    import mnist_mlp
    from mnist_mlp.textbook import model

    assert mnist_mlp.MLP is model.MLP
