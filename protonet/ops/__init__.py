"""Pure array kernels (no layers, no blobs): the hot paths."""
