"""Make the example model: a small MLP trained on scikit-learn's bundled 8×8 digits, converted to ONNX.

Writes, next to this script:
  digits.onnx          the model (input "input": float32 [N, 64]; outputs "label" int64 [N],
                       "probabilities" float32 [N, 10])
  digits-samples.npz   64 held-out images (for `--sample`: smoke test, compression gate, drift baseline)
  digits-request.json  one request in the Open Inference Protocol v2 format, for `sls-deploy invoke`

Needs the `sklearn` extra (pip install 'sls-deploy[sklearn]'). Deterministic: same versions → same files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from skl2onnx import to_onnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent


def main() -> None:
    digits = load_digits()
    x = digits.data.astype(np.float32)
    y = digits.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    model = make_pipeline(
        StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=0)
    )
    model.fit(x_train, y_train)
    print(f"test accuracy: {model.score(x_test, y_test):.3f}")

    onx = to_onnx(
        model,
        x_train[:1],
        options={"zipmap": False},
        target_opset={"": 17, "ai.onnx.ml": 3},
        final_types=None,
    )
    # Name the graph's tensors for clients: "input" in, "label" and "probabilities" out.
    graph = onx.graph
    renames = {
        graph.input[0].name: "input",
        graph.output[0].name: "label",
        graph.output[1].name: "probabilities",
    }
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for value in list(graph.input) + list(graph.output):
        value.name = renames.get(value.name, value.name)
    onx.graph.name = "digits_mlp"
    onx.doc_string = "MLP on scikit-learn's 8x8 digits (pixel values 0-16, 64 features)"
    (HERE / "digits.onnx").write_bytes(onx.SerializeToString())

    samples = x_test[:64]
    np.savez(HERE / "digits-samples.npz", input=samples)
    request = {
        "inputs": [
            {"name": "input", "shape": [1, 64], "datatype": "FP32", "data": samples[0].astype(int).tolist()}
        ]
    }
    (HERE / "digits-request.json").write_text(json.dumps(request) + "\n", encoding="utf-8")
    print(f"wrote digits.onnx, digits-samples.npz, digits-request.json (request is a {int(y_test[0])})")


if __name__ == "__main__":
    main()
