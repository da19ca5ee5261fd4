"""sls-deploy: ONNX model → scale-to-zero inference endpoint on AWS Lambda or the embedded local target."""

__version__ = "0.1.0"
