"""Evaluation, base against tuned: the plan sized to the time budget, each evaluator's call, teacher-forced
scoring and statistics, retrieval baseline, general ability, memorization audit, base-figure cache, GGUF check."""
