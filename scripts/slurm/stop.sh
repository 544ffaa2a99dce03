#!/usr/bin/env bash
# Stops the single-node Slurm that setup.sh started.
pkill -x slurmd 2>/dev/null || true
pkill -x slurmctld 2>/dev/null || true
pkill -x munged 2>/dev/null || true
