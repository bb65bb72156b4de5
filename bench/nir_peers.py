"""Every zoo family (tests/conftest.py FAMILIES) as NIR in SpikingJelly 2.0 and snnTorch 1.0: the float NIR
(``model.nir``) and the integer NIR (``model.int.nir``), each run by the peer and compared with our simulator at every
population and step. Prints one line per family, peer and stage: the share of spike entries (population, step,
sample, neuron) that agree and of predictions, or the peer's refusal.

    .venv/bin/python bench/nir_peers.py

The runners are the test suite's (tests/test_nir_peers.py), which checks a few families of each line in its time
budget; this script runs them all (a few minutes on 2 cores).
"""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import numpy as np  # noqa: E402

from conftest import FAMILIES  # noqa: E402
from test_nir_peers import agreement, in_snntorch, in_spikingjelly, ours, zoo  # noqa: E402
from snncompile.backends.nir.export import to_nir  # noqa: E402

PEERS = {"SpikingJelly": in_spikingjelly, "snnTorch": in_snntorch}


def main() -> None:
    logging.disable(logging.WARNING)  # the peers' warnings on loading
    for family in sorted(FAMILIES):
        inputs, T, graphs = zoo(family)
        for stage in ("lowered", "integer"):
            expected, spikes = ours(graphs[stage], inputs, T)
            for peer, run in PEERS.items():
                try:
                    outputs, theirs = run(to_nir(graphs[stage]), inputs, T, list(spikes))
                except (AssertionError, ValueError) as err:
                    print(f"{family:22} {stage:8} {peer:12} refused: {type(err).__name__}: {err}", flush=True)
                    continue
                predictions = np.mean(outputs.mean(axis=0).argmax(axis=1) == expected.output.argmax(axis=1))
                print(f"{family:22} {stage:8} {peer:12} spikes {agreement(spikes, theirs):8.4%}  predictions "
                      f"{predictions:6.1%}  ({sum(s.sum() for s in spikes.values()):,.0f} spikes)", flush=True)


if __name__ == "__main__":
    main()
