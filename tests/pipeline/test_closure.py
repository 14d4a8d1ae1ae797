"""The search for the smallest closure, given trials as plain functions: no kernel, no engine."""

from __future__ import annotations

from jupyter_mlcontainer.pipeline.closure import Attempt, left_out, narrowest, never_imported


class Environment:
    """Trials of a model that needs `needed` and whose libraries ask for `asked` (name →
    importer) when present; `named` says whether a failure names the missing module."""

    def __init__(self, needed=(), asked=None, named=True):
        self.needed, self.asked, self.named = set(needed), dict(asked or {}), named
        self.runs: list[frozenset] = []

    def __call__(self, added: frozenset) -> Attempt:
        self.runs.append(added)
        refused = {name: who for name, who in self.asked.items() if name not in added}
        lacking = self.needed - added
        missing = frozenset(sorted(lacking)[:1]) if self.named else frozenset()
        return Attempt(
            passed=not lacking,
            refused=refused,
            missing=missing,
            failure=f"ModuleNotFoundError: {sorted(lacking)}" if lacking else "",
        )


def test_a_model_that_needs_nothing_hidden_costs_one_trial():
    trials = Environment(asked={"pyarrow": "pandas", "rich": "sklearn"})
    narrowed = narrowest(trials)
    assert narrowed.trials == 1 and trials.runs == [frozenset()]
    assert left_out(narrowed.attempt) == {
        "pyarrow": "imported by pandas when present; the model answers without it",
        "rich": "imported by sklearn when present; the model answers without it",
    }


def test_what_the_error_names_is_added_one_at_a_time():
    trials = Environment(
        needed={"pandas", "tzdata"},
        asked={"pandas": "sklearn", "tzdata": "pandas", "pyarrow": "pandas"},
    )
    narrowed = narrowest(trials)
    assert trials.runs == [frozenset(), {"pandas"}, {"pandas", "tzdata"}]
    assert narrowed.trials == 3
    assert left_out(narrowed.attempt).keys() == {"pyarrow"}


def test_a_failure_that_names_nothing_keeps_only_what_the_answer_needs():
    """A library that turns the import error into its own, or an answer that changes: every
    refused distribution is added, then each is tried without."""
    trials = Environment(needed={"b"}, asked={"a": "x", "b": "x", "c": "x"}, named=False)
    narrowed = narrowest(trials)
    assert trials.runs == [frozenset(), {"a", "b", "c"}, {"b", "c"}, {"c"}, {"b"}]
    assert narrowed.attempt is not None and narrowed.trials == 5
    assert left_out(narrowed.attempt).keys() == {"a", "c"}


def test_a_failure_hiding_does_not_cause_gives_no_closure():
    trials = Environment(needed={"gone"}, asked={}, named=False)
    narrowed = narrowest(trials)
    assert narrowed.attempt is None and narrowed.trials == 1
    assert "gone" in narrowed.failure


def test_the_budget_bounds_the_trials():
    needed = {f"d{i}" for i in range(10)}
    trials = Environment(needed=needed, asked={name: "x" for name in needed})
    narrowed = narrowest(trials, budget=4)
    assert narrowed.attempt is None and narrowed.trials == 4 == len(trials.runs)


def test_a_declared_dependency_left_out_says_who_declares_it():
    assert never_imported(["fonttools", "orphan"], {"fonttools": "matplotlib"}) == {
        "fonttools": "declared by matplotlib, never imported by the model; it answers without it",
        "orphan": "never imported by the model; it answers without it",
    }
