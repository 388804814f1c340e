"""What a run leaves for people: report.json, report.md with its loss curve, the model card and the manifest,
the release check's sections, and the release gate's conditions that a CI reads."""
