"""The smallest set of distributions the served code is proven to answer with.

The trial starts in an environment that holds only the candidates (what the code imports, the
pickles' modules, the input's, the notebook's requirements, `--with`, and the serving runtime,
closed over their dependencies): everything else is hidden (pipeline/importgate.py). When the
trial fails there, the distributions it was refused are the only ones that can be missing:
the one its error names is added, or, when the error names none (a library that turns the
import error into its own), all of them, and then each is tried without again; a distribution
stays only if the load, the sample and the probes (pipeline/probes.py) fail without it. A
model that needs nothing hidden costs one trial, as before; each addition costs one more.

The candidates are closed over their declared dependencies (`Requires-Dist`), and a library
declares much that it imports only in a method the model never calls (catboost: matplotlib,
plotly, graphviz). So a passing trial also names the lean set (pipeline/environment.py, `lean`):
the distributions of what it imported, and the closure of what the runtime and the user asked
for; one more trial with only those visible proves the rest unneeded (`never_imported`), or the
image keeps them.

Pure: `narrowest` is given a function that runs one trial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: Trials a build may spend narrowing the closure; past them, the image keeps what the model
#: imported with everything installed, as a trial of the whole environment shows.
MAX_TRIALS = 6


@dataclass(frozen=True)
class Attempt:
    """One trial with some distributions hidden."""

    passed: bool  # loaded, and answered the sample and every probe as the notebook did
    refused: dict  # hidden distribution the code asked for → the module that asked
    missing: frozenset = frozenset()  # refused distributions the failure itself names
    failure: str = ""  # why it did not pass
    result: dict = field(default_factory=dict)  # the trial's whole answer


@dataclass(frozen=True)
class Narrowed:
    attempt: Attempt | None  # the passing trial; None when none passed within the budget
    trials: int
    failure: str = ""  # the last failure, when none passed


def narrowest(run: Callable[[frozenset], Attempt], budget: int = MAX_TRIALS) -> Narrowed:
    """`run(added)` is a trial with the candidates and `added` visible, everything else
    hidden; the smallest `added` that passes, found in at most `budget` trials."""
    tried: dict[frozenset, Attempt] = {}

    def attempt(added: frozenset) -> Attempt | None:
        if added not in tried and len(tried) < budget:
            tried[added] = run(added)
        return tried.get(added)

    added = frozenset()
    outcome = attempt(added)
    while outcome is not None and not outcome.passed:
        named = outcome.missing
        wanted = named or frozenset(outcome.refused) - added
        if not wanted:
            break  # hiding is not what fails it
        added |= wanted
        outcome = attempt(added)
        if not named and outcome is not None and outcome.passed:
            added = _without_unneeded(attempt, added, wanted)
            outcome = tried[added]
    if outcome is None or not outcome.passed:
        return Narrowed(None, len(tried), list(tried.values())[-1].failure)
    return Narrowed(outcome, len(tried))


def _without_unneeded(attempt, added: frozenset, bundle: frozenset) -> frozenset:
    """`added` without each member of `bundle` that the trial passes without."""
    for name in sorted(bundle):
        outcome = attempt(added - {name})
        if outcome is not None and outcome.passed:
            added -= {name}
    return added


def left_out(attempt: Attempt) -> dict:
    """Distribution → why the image leaves it out, for the build log and the slice report."""
    return {
        name: f"imported by {importer} when present; the model answers without it"
        for name, importer in sorted(attempt.refused.items())
    }


def never_imported(names, required_by: dict) -> dict:
    """Distribution → why the image leaves it out, for the declared dependencies that no
    module the trial imported comes from and that a trial without them proved unneeded."""
    return {
        name: (
            f"declared by {required_by[name]}, never imported by the model; it answers without it"
            if name in required_by
            else "never imported by the model; it answers without it"
        )
        for name in sorted(names)
    }
