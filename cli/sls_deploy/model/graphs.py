"""ONNX graph helpers shared by the compression methods: walking subgraphs, finding a tensor's consumers,
picking the weights worth compressing, fresh names, opset fixes.

Pure functions over onnx protos; they change the proto they are given where the name says so. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

CONTROL_FLOW_OPS = frozenset({"If", "Loop", "Scan"})
MIN_WEIGHT_ELEMENTS = (
    1024  # smaller float tensors (biases, norms, scalars) are left as they are: not worth it
)


@dataclass(frozen=True)
class Use:
    """One place a tensor name is read: `node`'s input number `index` (the node may sit in a subgraph)."""

    node: onnx.NodeProto
    index: int


def subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def iter_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """`graph` and every graph nested in its nodes (If branches, Loop/Scan bodies), depth first."""
    yield graph
    for node in graph.node:
        for sub in subgraphs(node):
            yield from iter_graphs(sub)


def control_flow_ops(model: onnx.ModelProto) -> list[str]:
    """The control-flow operators (If/Loop/Scan) the model uses, sorted."""
    return sorted(
        {n.op_type for g in iter_graphs(model.graph) for n in g.node if n.op_type in CONTROL_FLOW_OPS}
    )


def uses(graph: onnx.GraphProto) -> dict[str, list[Use]]:
    """Every read of every name in `graph`, including reads from subgraphs (outer-scope references)."""
    found: dict[str, list[Use]] = {}
    for g in iter_graphs(graph):
        for node in g.node:
            for index, name in enumerate(node.input):
                if name:
                    found.setdefault(name, []).append(Use(node, index))
    return found


def weight_initializers(
    graph: onnx.GraphProto, min_elements: int = MIN_WEIGHT_ELEMENTS
) -> list[onnx.TensorProto]:
    """The float32 initializers of `graph` itself (not its subgraphs) with at least `min_elements` values.
    Old exporters also list initializers as graph inputs (overridable defaults, which onnxruntime leaves out
    of the signature); see drop_initializer_input."""
    return [
        t
        for t in graph.initializer
        if t.data_type == onnx.TensorProto.FLOAT and int(np.prod(t.dims, dtype=np.int64)) >= min_elements
    ]


def drop_initializer_input(graph: onnx.GraphProto, name: str) -> None:
    """Remove `name` from the graph inputs, where an old exporter listed an initializer as one."""
    keep = [i for i in graph.input if i.name != name]
    if len(keep) != len(graph.input):
        del graph.input[:]
        graph.input.extend(keep)


def subgraph_weights(model: onnx.ModelProto) -> tuple[int, int]:
    """(count, bytes) of float32 weights inside If/Loop/Scan bodies (not in the main graph)."""
    tensors = [t for g in iter_graphs(model.graph) if g is not model.graph for t in weight_initializers(g)]
    return len(tensors), sum(4 * int(np.prod(t.dims, dtype=np.int64)) for t in tensors)


def constants_to_initializers(graph: onnx.GraphProto, min_elements: int = MIN_WEIGHT_ELEMENTS) -> int:
    """Turn large float Constant nodes of `graph` and its subgraphs into initializers (same name), so the
    methods see every weight the same way. Returns how many were moved."""
    moved = 0
    for g in iter_graphs(graph):
        keep = []
        for node in g.node:
            value = next((a.t for a in node.attribute if a.name == "value" and a.type == a.TENSOR), None)
            if (
                node.op_type == "Constant"
                and node.domain in ("", "ai.onnx")
                and value is not None
                and value.data_type == onnx.TensorProto.FLOAT
                and int(np.prod(value.dims, dtype=np.int64)) >= min_elements
            ):
                tensor = onnx.TensorProto()
                tensor.CopyFrom(value)
                tensor.name = node.output[0]
                g.initializer.append(tensor)
                moved += 1
            else:
                keep.append(node)
        if len(keep) != len(g.node):
            del g.node[:]
            g.node.extend(keep)
    return moved


def all_names(model: onnx.ModelProto) -> set[str]:
    names: set[str] = set()
    for g in iter_graphs(model.graph):
        names.update(t.name for t in g.initializer)
        names.update(v.name for v in (*g.input, *g.output, *g.value_info))
        for node in g.node:
            names.update(node.input)
            names.update(node.output)
            if node.name:
                names.add(node.name)
    return names


def namer(model: onnx.ModelProto) -> Callable[[str], str]:
    """A function returning names not yet used anywhere in `model` (nor returned before)."""
    taken = all_names(model)

    def fresh(base: str) -> str:
        name, n = base, 1
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        return name

    return fresh


def dedupe_opsets(model: onnx.ModelProto) -> list[str]:
    """Keep one opset import per domain (the highest version). Some converters (skl2onnx with options)
    write a domain twice, which onnxruntime's quantization tools reject. Returns the domains fixed."""
    best: dict[str, int] = {}
    for imp in model.opset_import:
        best[imp.domain] = max(best.get(imp.domain, 0), int(imp.version))
    if len(best) == len(model.opset_import):
        return []
    fixed = sorted({d or "ai.onnx" for d in best if sum(1 for i in model.opset_import if i.domain == d) > 1})
    del model.opset_import[:]
    model.opset_import.extend(onnx.helper.make_opsetid(d, v) for d, v in sorted(best.items()))
    return fixed


def default_opset(model: onnx.ModelProto) -> int:
    return max((int(i.version) for i in model.opset_import if i.domain in ("", "ai.onnx")), default=0)


def opsets(model: onnx.ModelProto) -> dict[str, int]:
    return {imp.domain or "": int(imp.version) for imp in model.opset_import}


def to_array(tensor: onnx.TensorProto) -> np.ndarray:
    return numpy_helper.to_array(tensor)


def replace_tensor_data(tensor: onnx.TensorProto, array: np.ndarray) -> None:
    """Overwrite `tensor`'s values in place (same name, same dtype and shape)."""
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)
    tensor.CopyFrom(numpy_helper.from_array(np.asarray(array, dtype=dtype), tensor.name))
