"""``custom-llm-automotive``: tools around the domain that are not part of a training run."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def main() -> None:
    """Crash-test data tools for custom-llm."""


@main.command()
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write the test sets into (created if missing)."
)
@click.option("--tests", "tests", default=10, show_default=True, type=click.IntRange(1, 100000), help="Number of test sets to write.")
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, same bytes.")
@click.option("--side-share", default=0.3, show_default=True, type=click.FloatRange(0.0, 1.0), help="Share of side impacts (the rest are frontal).")
@click.option("--no-reports", is_flag=True, help="Write channel data only, no test reports.")
def sample(out: Path, tests: int, seed: int, side_share: float, no_reports: bool) -> None:
    """Write sample ISO-MME test sets (frontal and side impacts, several dummies) with reports."""
    from custom_llm_automotive.generator import generate

    written = generate(out, tests, seed=seed, reports=not no_reports, side_share=side_share)
    channels = sum(len(t.channels) for t in written)
    frontal = sum(t.kind == "frontal" for t in written)
    click.echo(f"wrote {len(written)} test sets ({frontal} frontal, {len(written) - frontal} side), {channels} channel files, into {out}")


if __name__ == "__main__":
    main()
