"""Executing the notebook series headlessly: parameters and their checks, the plan, the kernel, the execution.

params -> plan -> kernel -> execute; `run_series.py` at the project root is the command line over them.
"""
