"""The canonicalisation pass that models/prepare_blazeface.sh and models/prepare_nanodet.sh share.

tf2onnx's output is not byte-reproducible: its generated tensor names change from run to run.
Renaming every internal tensor t0, t1, ... in order of first use and every node <OpType>_<index>,
ordering the initializers by first use, clearing value_info, dropping the opset imports of unused
domains and serialising deterministically gives the same bytes for the same graph. Weights and
computation are unchanged. What each model needs besides (its checks, folding, the initializers'
form, its output shapes and names) stays in the script's own python, which imports this.
"""
from __future__ import annotations

import sys

import onnx
from onnx import helper


def rename(g: onnx.GraphProto, nodes) -> tuple[list[onnx.NodeProto], dict[str, str]]:
    """Copies of `nodes` with the internal tensors renamed in order of first use and the nodes named
    by op type and position; the graph's inputs and outputs keep their names. Returns the copies
    and the renaming."""
    io = {i.name for i in g.input} | {o.name for o in g.output}
    ren = {}

    def rn(x):
        if x == "" or x in io:
            return x
        return ren.setdefault(x, f"t{len(ren)}")

    new_nodes = []
    for k, n in enumerate(nodes):
        c = onnx.NodeProto()
        c.CopyFrom(n)
        c.input[:] = [rn(x) for x in c.input]
        c.output[:] = [rn(x) for x in c.output]
        c.name = f"{c.op_type}_{k}"
        new_nodes.append(c)
    return new_nodes, ren


def used_constants(nodes, const, ren: dict[str, str]) -> list[str]:
    """The (old) names of the constants the nodes read, in order of first use."""
    return sorted({x for n in nodes for x in n.input if x in const}, key=lambda x: int(ren[x][1:]))


def write(m: onnx.ModelProto, nodes, initializers, outputs, name: str, doc: str, dst: str, prefix: str) -> None:
    """Puts the renamed nodes and initializers in the graph, the outputs [(name, shape)] as float
    tensors with those static shapes, checks the model and writes it to dst deterministically."""
    g = m.graph
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(initializers)
    del g.value_info[:]
    del g.output[:]
    g.output.extend(helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, shape) for n, shape in outputs)
    ops = {n.domain for n in g.node}
    keep_opsets = [o for o in m.opset_import if o.domain in ops or o.domain in ("", "ai.onnx")]
    del m.opset_import[:]
    m.opset_import.extend(keep_opsets)
    g.name = name
    m.doc_string = doc
    onnx.checker.check_model(m, full_check=True)
    with open(dst, "wb") as f:
        f.write(m.SerializeToString(deterministic=True))
    print(f"{prefix}: {len(nodes)} nodes, {len(g.initializer)} initializers, ops "
          + ",".join(sorted({n.op_type for n in nodes})), file=sys.stderr)
