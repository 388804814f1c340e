"""The run registry: every training run on this machine, in one SQLite file, so that every model can
be traced back to what it was trained on and compared with the others (``custom-llm runs``).

``store``: the file and its rows (``RunStore``); ``recording``: a training run's row, written by the
pipeline, which never fails a run; ``command_line``: the command a run was started with, as typed.
"""
