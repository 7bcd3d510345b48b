"""Evaluation of detections and classifications against ground truth (torch-free)."""
