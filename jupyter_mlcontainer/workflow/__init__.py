"""The one pipeline every front door calls (`build.containerize`), and what it keeps between
runs: the build contexts, the instance a rebuild replaces, the job a run reports to."""
