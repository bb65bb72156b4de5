"""The zoo: every architecture builds, runs forward and backward, and matches the papers' parameter counts."""

import json
import math

import pytest
import torch

from conftest import FAMILIES, tiny_config, zoo_family
from snncompile.errors import ConfigError
from snncompile.models import ARCHS, build
from snncompile.models import FAMILIES as ZOO_FAMILIES
from snncompile.models.layers import SEWConnect
from snncompile.models.neurons import MLF, IFNode, LIFNode, PLIFNode, STBPLIF
from snncompile.models.norm import ThresholdDependentBatchNorm


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, config, paper_millions", [
    ("mlf_dsresnet20", dict(width="large", in_channels=3, num_classes=10), 4.32),
    ("mlf_dsresnet20", dict(width="small", in_channels=2, num_classes=11), 0.27),
    ("mlf_dsresnet14", dict(width="middle", in_channels=2, num_classes=10), 0.69),
    ("sew_resnet34", dict(), 21.8),
    ("sew_7bnet", dict(), 0.13),
])
def test_parameter_counts_match_the_papers(name, config, paper_millions):
    assert n_params(build(name, **config)) / 1e6 == pytest.approx(paper_millions, rel=0.02)


def test_every_arch_runs_forward_and_backward_at_tiny_width(arch):
    torch.manual_seed(0)
    model = build(arch, **tiny_config(arch))
    x = torch.rand(3, 1, 8, 8)
    logits = model(x)
    assert logits.shape == (3, 10)
    logits.square().sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_frames_encoding_takes_time_major_event_frames():
    model = build("sew_7bnet", **{**tiny_config("sew_7bnet", in_channels=2), "encoding": "frames"})
    assert model(torch.rand(2, 5, 2, 8, 8).round()).shape == (5, 10)


def test_build_rejects_unknown_names_and_options():
    with pytest.raises(ConfigError, match="unknown architecture 'resnet9000'"):
        build("resnet9000")
    with pytest.raises(ConfigError, match="has no option"):
        build("mlf_dsresnet20", colour="blue")
    with pytest.raises(ConfigError, match="levels=1"):
        build("spiking_resnet20", levels=3)
    with pytest.raises(ConfigError, match="width"):
        build("mlf_dsresnet20", width="huge")


def test_arch_and_config_rebuild_the_model_as_plain_data(arch):
    torch.manual_seed(0)
    model = build(arch, **tiny_config(arch)).eval()
    rebuilt = build(model.arch, **json.loads(json.dumps(model.config))).eval()
    rebuilt.load_state_dict(model.state_dict())
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def run_reference_lif(x, decay, gain, thresholds, inclusive, soft=False):
    """Per-element reference loop of the discrete LIF of DESIGN §3 (one neuron at a time)."""
    out = torch.zeros_like(x)
    for index in range(x[0].numel()):
        for threshold in thresholds:
            v = 0.0
            for t in range(x.shape[0]):
                v = decay * v + gain * x[t].flatten()[index].item()
                fired = v >= threshold if inclusive else v > threshold
                if fired:
                    v = v - threshold if soft else 0.0
                out[t].view(-1)[index] += float(fired)
    return out


@pytest.mark.parametrize("neuron, decay, gain, inclusive", [
    (STBPLIF(0.5, 0.25), 0.25, 1.0, False),
    (IFNode(), 1.0, 1.0, True),
    (LIFNode(tau=4.0), 0.75, 0.25, True),
    (LIFNode(tau=4.0, decay_input=False), 0.75, 1.0, True),
    (PLIFNode(init_tau=2.0), 0.5, 0.5, True),
])
def test_neurons_follow_the_discrete_lif_equation(neuron, decay, gain, inclusive):
    torch.manual_seed(1)
    x = torch.randn(6, 2, 7, dtype=torch.float64) * 1.5
    expected = run_reference_lif(x, decay, gain, neuron.thresholds, inclusive)
    assert torch.equal(neuron(x), expected)


def test_soft_reset_subtracts_the_threshold():
    x = torch.full((3, 1), 0.7, dtype=torch.float64)  # soft: 0.7, 1.4 -> 0.4, 1.1 -> 0.1;  hard: 0.7, 1.4 -> 0, 0.7
    assert IFNode(v_threshold=1.0, v_reset=None)(x).flatten().tolist() == [0.0, 1.0, 1.0]
    assert IFNode(v_threshold=1.0)(x).flatten().tolist() == [0.0, 1.0, 0.0]


def test_comparison_is_strict_for_stbp_and_inclusive_for_spikingjelly():
    x = torch.full((1, 1), 0.5)
    assert STBPLIF(threshold=0.5)(x).item() == 0.0
    assert IFNode(v_threshold=0.5)(x).item() == 1.0


def test_mlf_is_k_independent_levels_summed():
    torch.manual_seed(2)
    x = torch.randn(8, 3, 5, dtype=torch.float64) * 2
    mlf = MLF(levels=3, vth1=0.6, spacing=1.0, decay=0.25)
    assert mlf.thresholds == pytest.approx((0.6, 1.6, 2.6))
    levels = [STBPLIF(threshold, 0.25)(x) for threshold in mlf.thresholds]
    assert torch.equal(mlf(x), sum(levels))
    assert mlf(x).max() <= 3


def test_mlf_gives_each_level_its_own_rectangular_surrogate():
    x = torch.tensor([[1.6]], dtype=torch.float64, requires_grad=True)  # only the 2nd level's window holds 1.6
    MLF(levels=3, vth1=0.6, spacing=1.0)(x).sum().backward()
    assert x.grad.item() == pytest.approx(1.0)
    x = torch.tensor([[1.1]], dtype=torch.float64, requires_grad=True)  # on the border of levels 1 and 2: none
    MLF(levels=3, vth1=0.6, spacing=1.0)(x).sum().backward()
    assert x.grad.item() == 0.0


@pytest.mark.parametrize("inside", [True, False])
def test_tdbn_normalises_over_time_batch_and_space(inside):
    torch.manual_seed(3)
    bn = ThresholdDependentBatchNorm(4, alpha=1 / math.sqrt(2), threshold=0.5, eps_inside_sqrt=inside)
    x = torch.randn(3, 5, 4, 6, 6, dtype=torch.float64) * 3 + 1
    with torch.no_grad():
        y = bn.double()(x)
    per_channel = y.transpose(0, 2).reshape(4, -1)
    assert per_channel.mean(1).abs().max() < 1e-9
    assert per_channel.std(1, unbiased=False) == pytest.approx([0.5 / math.sqrt(2)] * 4, rel=1e-3)
    bn.eval()
    var = bn.running_var
    assert bn.running_mean == pytest.approx([0.1] * 4, abs=0.05)  # one step of momentum 0.1 towards the mean 1
    denominator = torch.sqrt(var + bn.eps) if inside else torch.sqrt(var) + bn.eps
    expected = (x - bn.running_mean.view(1, 1, 4, 1, 1)) * (0.5 / math.sqrt(2) / denominator).view(1, 1, 4, 1, 1)
    with torch.no_grad():
        assert torch.allclose(bn(x), expected)


def test_sew_connect_functions():
    a = torch.tensor([0.0, 0.0, 1.0, 1.0])
    s = torch.tensor([0.0, 1.0, 0.0, 1.0])
    assert SEWConnect("ADD")(a, s).tolist() == [0, 1, 1, 2]
    assert SEWConnect("AND")(a, s).tolist() == [0, 0, 0, 1]
    assert SEWConnect("IAND")(a, s).tolist() == [0, 1, 0, 0]


def test_ds_block_output_counts_accumulate_along_a_stage():
    torch.manual_seed(4)
    model = build("mlf_dsresnet20", width=4, T=2, in_channels=1, levels=3).eval()
    seen = {}
    model.stages[0][2].register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5)
        model(torch.rand(4, 1, 8, 8))
    # after three DS blocks on an identity path a value can exceed what one MLF unit emits (K = 3)
    assert seen["out"].max() > 3
    assert torch.equal(seen["out"], seen["out"].round())


def test_sbp_heads_shape_the_training_output_only():
    torch.manual_seed(5)
    model = build("sbp_resnet18", **tiny_config("sbp_resnet18"))
    x = torch.rand(2, 1, 8, 8)
    model.train()
    model.set_progress(1.0)  # lambda(I) = 0: the training output is the main path
    main_only = model(x)
    model.set_progress(0.0)
    with_heads = model(x)
    assert not torch.allclose(main_only, with_heads)
    model.eval()
    heads_called = []
    for head in model.side_heads:
        head.register_forward_hook(lambda *a: heads_called.append(1))
    model(x)
    assert heads_called == []


def test_the_family_table_of_the_equivalence_tests_covers_every_zoo_family():
    """``conftest.FAMILIES``, which every backend-equivalence test runs, holds every family of the zoo; every
    architecture belongs to exactly one family (``zoo_family`` raises otherwise)."""
    assert {zoo_family(arch) for arch, _ in FAMILIES.values()} == set(ZOO_FAMILIES)
    assert {zoo_family(arch) for arch in ARCHS} == set(ZOO_FAMILIES)
