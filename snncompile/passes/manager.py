"""Run passes in order, time each, and dump the IR after the ones asked for."""

import time
from pathlib import Path

from ..errors import ConfigError
from ..ir import Graph, save


class PassManager:
    """Runs ``passes`` (pure functions ``Graph -> Graph`` with a ``name``) in order.

    ``dump_after``: pass names (or ``"all"``) after which the graph is saved with :func:`snncompile.ir.save` into
    ``dump_dir/<index>-<name>/`` (index: the pass's position in the pipeline, from 1), loadable with
    :func:`snncompile.ir.load`.
    """

    def __init__(self, passes, dump_dir=None, dump_after=()):
        self.passes = list(passes)
        names = [p.name for p in self.passes]
        if isinstance(dump_after, str):
            dump_after = names if dump_after == "all" else [dump_after]
        self.dump_after = set(dump_after)
        unknown = sorted(self.dump_after - set(names))
        if unknown:
            raise ConfigError(f"cannot dump after {', '.join(map(repr, unknown))}: not in the pipeline "
                              f"({', '.join(names)})")
        if self.dump_after and dump_dir is None:
            raise ConfigError("dumping the IR after a pass needs a dump directory")
        self.dump_dir = None if dump_dir is None else Path(dump_dir)

    def run(self, graph: Graph, start: int = 0, stop: int | None = None) -> tuple:
        """The graph after the passes ``start:stop`` of the pipeline (a Python slice; all by default), and a report:
        one ``{"pass", "seconds", "nodes_before", "nodes_after"}`` per pass (plus ``"dump"``, the directory written,
        for dumped passes)."""
        report = []
        for index in range(len(self.passes))[start:stop]:
            graph_pass = self.passes[index]
            before, started = len(graph), time.perf_counter()
            graph = graph_pass(graph)
            entry = {"pass": graph_pass.name, "seconds": time.perf_counter() - started, "nodes_before": before,
                     "nodes_after": len(graph)}
            if graph_pass.name in self.dump_after:
                entry["dump"] = str(save(graph, self.dump_dir / f"{index + 1:02d}-{graph_pass.name}"))
            report.append(entry)
        return graph, report
