"""Shipped models (ONNX + cards) and the torch code that trains them (`models.training`, train extra only)."""
