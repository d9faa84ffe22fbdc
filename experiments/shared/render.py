"""Write experiments/shared/common.yaml into every experiment that carries its block, between the
block's `# >>>` and `# <<<` lines (run from the repository root; `make experiments`)."""

from __future__ import annotations

from pathlib import Path

SHARED = Path("experiments/shared/common.yaml")
EXPERIMENTS = Path("experiments")
BEGIN = f"# >>> {SHARED}: written by `make experiments`; edit it there, not here"
END = f"# <<< {SHARED}"


def block(shared: str) -> str:
    """The shared file without its leading comment: what goes between BEGIN and END."""
    lines = shared.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() and not line.startswith("#"))
    return "".join(lines[start:])


def rendered(experiment: str, shared_block: str) -> str:
    """EXPERIMENT with SHARED_BLOCK between its BEGIN and END lines (unchanged when it has none)."""
    lines = experiment.splitlines(keepends=True)
    begins = [i for i, line in enumerate(lines) if line.startswith("# >>> ")]
    ends = [i for i, line in enumerate(lines) if line.startswith("# <<< ")]
    if not begins:
        return experiment
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise ValueError("the shared block must be one pair of `# >>>` and `# <<<` lines, in that order")
    return "".join([*lines[:begins[0]], BEGIN + "\n", shared_block, END + "\n", *lines[ends[0] + 1:]])


def main() -> None:
    shared_block = block(SHARED.read_text())
    for path in sorted(EXPERIMENTS.glob("*.yaml")):
        text = path.read_text()
        if rendered(text, shared_block) != text:
            path.write_text(rendered(text, shared_block))
            print(f"{path}: shared block written")


if __name__ == "__main__":
    main()
