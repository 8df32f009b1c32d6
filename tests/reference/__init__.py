"""NumPy references, written from the formulas (float64 where possible),
independently of the kernels they check. One module per op."""
