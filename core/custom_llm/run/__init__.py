"""The run itself: its state and the checks made before any work, the orchestration that each command runs a
prefix of, the run directory, the content-addressed stage cache, progress bars, trackers and the dry run."""
