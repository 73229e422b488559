"""Every statement the chapter makes, in its order and in our words: the list the claims table
(``claims_report.rows``) is held to, one row per statement.

Going through the chapter sentence by sentence, a sentence that states something about losses,
gradients, training or MNIST gives one ``Statement``; sentences that only lead from one to the
next (what the previous chapter did, what comes below) give none, and sentences that state one
thing twice give one. Each statement is of one kind, which says what its row does:

* ``MEASURED``: a rule (``claims_rules``) computes the verdict from measurements;
* ``AS_WRITTEN``: a definition or formula, implemented as written, and the named test checks the
  code against it;
* ``ERRATUM``: the chapter errs, and a computation shows it (``errata``);
* ``BEYOND``: a statement about common practice, the field or the state of the art, which no
  computation in this repository can check; its row says so.
"""

from __future__ import annotations

from dataclasses import dataclass

MEASURED, AS_WRITTEN, ERRATUM, BEYOND = "measured", "as written", "erratum", "beyond a test"
KINDS = (MEASURED, AS_WRITTEN, ERRATUM, BEYOND)


@dataclass(frozen=True)
class Statement:
    id: str
    says: str  # what the chapter says, in our words
    kind: str


def _s(id_: str, kind: str, says: str) -> Statement:
    return Statement(id_, says, kind)


STATEMENTS: tuple[Statement, ...] = (
    # Training: the parameters and the losses
    _s("parameters", AS_WRITTEN, "Every neuron has its own weights and bias: training adjusts "
       "a great many parameters."),
    _s("loss-choice", MEASURED, "The choice of loss can strongly change how training goes."),
    _s("mse", AS_WRITTEN, "The L2 loss (mean square error) is 1/(2m) Σᵢ ‖F(xᵢ) − yᵢ‖₂²."),
    _s("l2-smooth", AS_WRITTEN, "The L2 loss is a smooth function of the parameters."),
    _s("mae", AS_WRITTEN, "The L1 loss (mean absolute error) is 1/(2m) Σᵢ ‖F(xᵢ) − yᵢ‖₁."),
    _s("outliers", MEASURED, "The L2 loss weighs outliers more than the L1 loss."),
    _s("common-losses", BEYOND, "L2 and L1 are the most common losses for networks with a "
       "continuous output."),
    _s("eq35", AS_WRITTEN, "For classification, the cross-entropy (35): "
       "−Σᵢ [yᵢ·ln F(xᵢ) + (1 − yᵢ)·ln(1 − F(xᵢ))]."),
    _s("eq35-nll", MEASURED, "(35), written for outputs between 0 and 1 as a sigmoid output "
       "layer gives, is also called the negative log-likelihood."),
    _s("eq35-sigmoid-output", MEASURED, "(35) goes preferably with a sigmoid output layer."),
    # The learning slowdown
    _s("speed-of-learning", AS_WRITTEN, "Losses differ in the speed of learning, which the "
       "derivatives ∂L/∂θ set: small derivatives, slow learning."),
    _s("slowdown-neuron", AS_WRITTEN, "One sigmoid neuron, {x, y} = {1, 0}, quadratic cost: "
       "∂L/∂w = ∂L/∂b = σ(w + b)σ'(w + b), which vanishes as σ → 1: learning slows down."),
    _s("slowdown-network", MEASURED, "The same slowdown appears in whole networks with the L2 "
       "loss."),
    _s("eq36-37", AS_WRITTEN, "Cross-entropy, one sigmoid neuron: ∂L/∂w = x[σ(wx + b) − y] (36), "
       "∂L/∂b = σ(wx + b) − y (37): σ' cancels, no slowdown."),
    _s("backward-engineering", MEASURED, "Integrating ∂L/∂F = (F − y)/(F(1 − F)), found by "
       "comparing ∂L/∂b = (∂L/∂F) F' with the neuron's gradient, gives the cross-entropy up to a "
       "constant (\"backward engineering\")."),
    # The softmax output
    _s("softmax-first-term", MEASURED, "For a softmax output the first term of (35) alone is "
       "the appropriate form, as against a sigmoid output."),
    _s("softmax-ll", AS_WRITTEN, "With one-hot labels that first term is L = −Σᵢ ln F_nᵢ(xᵢ)."),
    _s("softmax-ll-minimum", AS_WRITTEN, "A softmax output never exceeds 1, so that loss is "
       "smallest as F_nᵢ(xᵢ) approaches 1, the label's value."),
    _s("softmax-bias-gradient", ERRATUM, "Its bias gradient is ∂L/∂b_j = Σᵢ [F_nᵢ(xᵢ) − y_nᵢ] "
       "(the derivation's lines)."),
    _s("softmax-weight-gradient", MEASURED, "The gradients for the weights are linear in the "
       "network's error too."),
    # Minimising: gradient descent, backpropagation, mini-batches
    _s("good-minimum", BEYOND, "The loss has many nearly degenerate minima; its absolute "
       "minimum is out of reach, and a good one is the goal."),
    _s("unseen-data", MEASURED, "With good weights and biases found, the network can be applied "
       "to data it has not seen."),
    _s("gradient-descent", AS_WRITTEN, "Gradient descent: θ ← θ − η ∂L/∂θ."),
    _s("eta", MEASURED, "η too small: training might get stuck early in a local minimum; η "
       "too large: it might never find a minimum."),
    _s("extremum", ERRATUM, "An extremum is where every derivative vanishes, and that is where "
       "gradient descent converges."),
    _s("backprop", AS_WRITTEN, "Backpropagation: ∂L/∂θ⁽ᵏ⁾ = (∇L)ᵀ Df⁽ⁿ⁾ ⋯ Df⁽ᵏ⁺¹⁾ Dg⁽ᵏ⁾ "
       "∂q⁽ᵏ⁾/∂θ⁽ᵏ⁾, the Jacobians computed once per update, the change propagating backwards."),
    _s("backprop-box", ERRATUM, "The algorithm's box: for k = 1 … n, multiply all the following "
       "Jacobians to get ∂L/∂θ⁽ᵏ⁾."),
    _s("autodiff", AS_WRITTEN, "Backpropagation is a case of automatic differentiation, which "
       "gets derivatives of any order by the chain rule."),
    _s("batch-middle", MEASURED, "Between one sample per update and all of them, the best "
       "mini-batch lies in the middle."),
    _s("batch-better", MEASURED, "Larger mini-batches adjust the weights better per step …"),
    _s("batch-cost", MEASURED, "… at a higher computational cost."),
    _s("epoch", AS_WRITTEN, "An epoch runs through one random partition into mini-batches; the "
       "next epoch draws a new one."),
    # MNIST
    _s("drosophila", BEYOND, "Handwritten-digit recognition is the field's \"Drosophila\": the "
       "standard first problem for neural networks."),
    _s("hardcoding", BEYOND, "Handwriting varies so much from person to person that rules "
       "written by hand to tell the digits apart would be very hard to get right."),
    _s("mnist-data", AS_WRITTEN, "MNIST: tens of thousands of labelled 28 × 28 grey images of "
       "handwritten digits."),
    _s("pixels", AS_WRITTEN, "Pixels are grey values normalised to [0, 1)."),
    _s("output-distribution", AS_WRITTEN, "The 10 outputs, one per digit, form a probability "
       "distribution."),
    _s("hidden-10", MEASURED, "A hidden layer of as few as 10 neurons will do."),
    _s("sigmoid-hidden", MEASURED, "A sigmoid hidden layer is recommended; other activations "
       "can be used."),
    _s("recipe", MEASURED, "The MNIST recipe: softmax output, cross-entropy (35)."),
    _s("accuracy", AS_WRITTEN, "Accuracy = correct predictions / all predictions."),
    _s("figures", MEASURED, "The cross-entropy with l = 30, η = 0.5, m = 10, 30 epochs: 95.49 %; "
       "with l = 100: 96.82 %."),
    _s("quadratic-figures", MEASURED, "The quadratic cost, with the same settings: 95.42 % "
       "(l = 30) and 96.59 % (l = 100)."),
    _s("slightly-worse", MEASURED, "At l = 30 the quadratic cost is only slightly worse."),
    _s("considerable", MEASURED, "At l = 100 the cross-entropy is a considerable improvement "
       "over the quadratic cost."),
    _s("one-in-14", ERRATUM, "96.59 % → 96.82 % corrects about 1 in 14 wrongly classified "
       "pictures."),
    _s("not-state-of-the-art", BEYOND, "These figures are far from the state of the art, for "
       "want of a better architecture than one fully connected hidden layer."),
    _s("measures", AS_WRITTEN, "Precision TP/(TP + FP), recall (sensitivity) TP/(TP + FN), "
       "specificity TN/(TN + FP)."),
    _s("recall-prose", ERRATUM, "Recall, in words: the ratio between the actual positives and "
       "the outcomes identified as positive."),
    _s("unbalanced", MEASURED, "These measures can mislead on very unbalanced data."),
    _s("train-function", BEYOND, "Most machine-learning packages have a train function built "
       "in, so backpropagation need not be written by hand."),
)
"""The chapter's statements, in its order."""
IDS = tuple(s.id for s in STATEMENTS)


def statement(id_: str) -> Statement:
    """The statement called ``id_`` (a KeyError for any other)."""
    for s in STATEMENTS:
        if s.id == id_:
            return s
    raise KeyError(id_)
