"""Assessment scores from the configured formula (docs/assessment.md, "The score").

Three components, each 0..100:

- results: the mean of ``min(1, figure / target)`` for valid reports, visits and collections
  (targets ``assessment_monthly_targets`` scaled to the period's length) and, when the
  worker had verification tasks, the share answered on time;
- conduct: ``min(1, online hours / target)`` x 100, less ``assessment_unqualified_penalty``
  per unqualified inspection verdict, never under 0;
- satisfaction: the mean rating of the worker's reports (1..5) as 0..100; none without a
  rating, and then its weight is shared by the other two (the score is
  ``sum(weight x component) / sum(weights present)``).
"""

from __future__ import annotations

from hub.assessment.periods import Period
from hub.assessment.schemas import Score, WorkerFigures
from hub.settings import Settings


def _share(figure: float, target: float) -> float:
    return min(1.0, figure / target)


def score(figures: WorkerFigures, period: Period, settings: Settings) -> Score:
    targets = {k: v * period.months for k, v in settings.assessment_monthly_targets.items()}
    shares = [
        _share(figures.valid_reports, targets["valid_reports"]),
        _share(figures.visits, targets["visits"]),
        _share(figures.collections, targets["collections"]),
    ]
    if figures.verifications:
        shares.append(figures.verifications_on_time / figures.verifications)
    results = 100 * sum(shares) / len(shares)
    online = 100 * _share(figures.online_s / 3600, targets["online_hours"])
    conduct = max(0.0, online - settings.assessment_unqualified_penalty * figures.unqualified)
    satisfaction = None if figures.satisfaction is None else 100 * (figures.satisfaction - 1) / 4
    weights = settings.assessment_weights
    present = [(weights["results"], results), (weights["conduct"], conduct)]
    if satisfaction is not None:
        present.append((weights["satisfaction"], satisfaction))
    weight = sum(w for w, _ in present)
    total = sum(w * v for w, v in present) / weight if weight else 0.0
    return Score(
        results=round(results, 2),
        conduct=round(conduct, 2),
        satisfaction=None if satisfaction is None else round(satisfaction, 2),
        score=round(total, 2),
    )
