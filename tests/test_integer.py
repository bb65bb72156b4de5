"""The chip's integer LIF arithmetic (DESIGN §4), written once in snncompile.integer, against a literal reading."""

import numpy as np
import pytest

from snncompile.backends.numpy.simulator import simulate
from snncompile.integer import LOIHI2, cuba_step, decay_12bit, lif_step, wrap24
from snncompile.ir import Graph
from snncompile.ir.ops import Flatten, Input, IntLIF, Linear, Readout


def reference_cuba_step(u: int, v: int, current: int, current_decay: int, decay: int, bias: int,
                        threshold: int) -> tuple:
    """DESIGN §4 with the current's decay ``Du``, one neuron, Python integers: ``(spike, u, v)``."""
    kept = (abs(u) * current_decay) >> 12
    u = (kept if u >= 0 else -kept) + (current << 6)
    if u > 2**23:  # Lava's wrap of the current register: into (-2**23, 2**23]
        u -= 2**24
    elif u <= -2**23:
        u += 2**24
    magnitude = (abs(v) * decay) >> 12
    v = magnitude if v >= 0 else -magnitude
    v = max(-(2**23 - 1), min(2**23 - 1, v + u + (bias << 6)))
    fired = v > (threshold << 6)
    return int(fired), u, 0 if fired else v


def reference_step(v: int, current: int, decay: int, bias: int, threshold: int) -> tuple:
    """DESIGN §4 without current decay (``Du = 0``): ``(spike, v)``."""
    fired, _, v = reference_cuba_step(0, v, current, 0, decay, bias, threshold)
    return fired, v


def test_lif_step_matches_the_literal_arithmetic_on_hard_cases():
    rng = np.random.default_rng(0)
    cases = [  # (v, current, decay, bias, threshold): negative truncation, ties, wrap, saturation, no memory
        (-1000, 0, 1024, 0, 10), (-63, 0, 4095, 0, 0), (640, 0, 4096, 0, 10), (0, 10, 4096, 0, 10),
        (0, 11, 4096, 0, 10), (0, 131072, 4096, 0, 5), (0, -131073, 4096, 0, 5), (0, -131072, 4096, 0, 5), (0, 131073, 4096, 0, 5), (2**23 - 100, 1000, 4096, 0, 131071),
        (-(2**23 - 1), -5000, 4096, -4096, 3), (123456, 0, 0, 0, 1), (5, 3, 2048, 4095, 200), (-7, 0, 3, 0, 0),
    ]
    cases += [tuple(int(x) for x in row) for row in zip(rng.integers(-2**23 + 1, 2**23, 500),
                                                       rng.integers(-150_000, 150_000, 500), rng.integers(0, 4097, 500),
                                                       rng.integers(-4096, 4096, 500), rng.integers(0, 2**17, 500))]
    v, current, decay, bias, threshold = (np.array(c, np.int64) for c in zip(*cases))
    for i, case in enumerate(cases):
        spikes, v_next = lif_step(v[i:i + 1], current[i:i + 1], int(decay[i]), bias[i], threshold[i])
        assert (int(spikes[0]), int(v_next[0])) == reference_step(*case), case


def test_cuba_step_matches_the_literal_arithmetic_on_hard_cases():
    """The current's decay truncates toward zero for negative currents too, keeps nothing at Du = 0 and all but
    1/4096 at Du = 4095, and the kept current plus the input wraps at 24 bits in both directions."""
    rng = np.random.default_rng(1)
    cases = [  # (u, v, current, Du, D, bias, threshold)
        (-1001, 0, 0, 1024, 4096, 0, 131071), (1001, 0, 0, 1024, 4096, 0, 131071), (-1, 0, 0, 4095, 4096, 0, 0),
        (-4096, 0, 0, 4095, 4096, 0, 0), (5000, 0, 7, 0, 4096, 0, 100), (2**23, 0, 0, 4095, 4096, 0, 131071),
        (2**23 - 100, 0, 1000, 4095, 4096, 0, 131071), (-(2**23 - 1), 0, -131072, 4095, 4096, 0, 131071),
        (2**23, 2**23 - 1, 131071, 2048, 4096, 4095, 131071), (-2**22, -(2**23 - 1), -5, 1, 3000, -4096, 0),
        (6400, 0, 0, 4095, 4096, 0, 100), (6401, 0, 0, 4095, 4096, 0, 99),
    ]
    cases += [tuple(int(x) for x in row) for row in zip(
        rng.integers(-2**23 + 1, 2**23 + 1, 500), rng.integers(-2**23 + 1, 2**23, 500),
        rng.integers(-150_000, 150_000, 500), rng.integers(0, 4096, 500), rng.integers(0, 4097, 500),
        rng.integers(-4096, 4096, 500), rng.integers(0, 2**17, 500))]
    wraps = set()
    for case in cases:
        u, v, current, current_decay, decay, bias, threshold = case
        spikes, u_next, v_next = cuba_step(np.array([u]), np.array([v]), np.array([current]), current_decay, decay,
                                           bias, threshold)
        assert (int(spikes[0]), int(u_next[0]), int(v_next[0])) == reference_cuba_step(*case), case
        unwrapped = (1 if u >= 0 else -1) * ((abs(u) * current_decay) >> 12) + (current << 6)
        wraps.add(int(np.sign(unwrapped - u_next[0])))
    assert wraps == {-1, 0, 1}  # the current wrapped down, up, and not at all


def test_wrap_and_decay_conversions():
    assert wrap24(np.array([2**23, 2**23 + 1, -2**23, -2**23 - 1, 5])).tolist() == [2**23, -2**23 + 1, 2**23,
                                                                                   2**23 - 1, 5]
    assert [decay_12bit(d) for d in (0.0, 0.25, 0.5, 1.0)] == [0, 1024, 2048, 4096]
    assert LOIHI2.weight_range == (-256, 255) and LOIHI2.bias_range == (-4096, 4095)
    assert LOIHI2.threshold_max == 131071 and LOIHI2.current_max == 131071


def test_integer_graph_runs_the_integer_arithmetic_over_time():
    weight = np.array([[3, -2], [5, 7]], np.int32)
    graph = Graph("int")
    graph.add("x", Input((2,), "frames", "spikes"))
    graph.add("fc", Linear(weight, None), ["x"])
    graph.add("lif", IntLIF(threshold=6, decay_12bit=3000, bias=np.array([1, -2], np.int64), scale=10.0), ["fc"])
    graph.add("flat", Flatten(), ["lif"])
    graph.add("out", Readout(np.array([[1, 1]], np.int32), np.array([2], np.int32), output_scale=10.0), ["flat"])
    graph.set_outputs(["out"])
    rng = np.random.default_rng(1)
    frames = (rng.random((12, 3, 2)) < 0.6).astype(float)
    result = simulate(graph, frames, 12, record=["lif"])
    expected, readout = np.zeros((12, 3, 2)), np.zeros((3, 1))
    for b in range(3):
        v = [0, 0]
        for t in range(12):
            current = weight @ frames[t, b]
            for i in range(2):
                expected[t, b, i], v[i] = reference_step(v[i], int(current[i]), 3000, [1, -2][i], 6)
            readout[b] += expected[t, b].sum() + 2
    assert np.array_equal(result.recorded["lif"], expected)
    np.testing.assert_allclose(result.output, readout / 12 / 10.0)


def test_intlif_rejects_out_of_range_fields():
    graph = Graph("bad")
    graph.add("x", Input((2,)))
    with pytest.raises(Exception, match="decay_12bit must be in"):
        graph.add("lif", IntLIF(threshold=1, decay_12bit=5000), ["x"])
