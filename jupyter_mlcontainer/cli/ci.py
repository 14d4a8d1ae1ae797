"""`jupyter mlcontainer ci`: a CI workflow that rebuilds a notebook's image on every change."""

from __future__ import annotations


def add_command(commands) -> None:
    command = commands.add_parser(
        "ci",
        help="write a GitHub Actions workflow that rebuilds the notebook's image",
        description=(
            "Write .github/workflows/mlcontainer-<name>.yml in the notebook's repository: on a "
            "change to the notebook, its requirements or the modules beside it, build, run and "
            "check parity; push from the default branch when --registry is given."
        ),
    )
    command.add_argument("notebook", help="path to the .ipynb file")
    command.add_argument(
        "--github", action="store_true", required=True, help="GitHub Actions (the one CI so far)"
    )
    command.add_argument(
        "--registry", metavar="REGISTRY/REPOSITORY", help="push there from the default branch"
    )
    command.add_argument(
        "--requirements",
        metavar="PATH",
        help="what to install (default: requirements.txt beside it)",
    )
    command.add_argument("--python", metavar="X.Y", help="Python version (default: this one's)")
    command.set_defaults(handler=run)


def run(args) -> int:
    from ..deploy.github import github_workflow

    workflow = github_workflow(args.notebook, args.registry, args.requirements, args.python)
    workflow.path.parent.mkdir(parents=True, exist_ok=True)
    workflow.path.write_text(workflow.text, encoding="utf-8")
    print(workflow.path)
    return 0
