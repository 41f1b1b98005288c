"""`robodine bench`: how fast the project is, against a ceiling measured in the same run.

Shared machines drift by tens of percent between runs, so every scenario
measures the project and what it is judged against back to back, and reports
the ratio. Each scenario is one module under ``bench/scenarios``.
"""
