"""Data-parallel training over MPI (`mpirun -n N protonet train ...`, or `protonet train --ranks N`).

Caffe's multi-GPU scheme on processes: every rank builds the same solver and runs the net's own batch
on its share of the records (shard.py), rank 0's initial weights are broadcast, the gradients are
averaged over the ranks in buckets overlapped with the backward pass (reducer.py) before every rank
applies the same update, and rank 0 alone logs, tests and writes (parallel.py, the Solver's hooks).
A rank that fails ends the job (faults.py); launch.py starts the job on one machine.
"""
