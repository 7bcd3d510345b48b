"""Training and ONNX export (needs the `train` extra: torch). Never imported by serving code."""
