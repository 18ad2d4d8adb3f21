"""`sweep report`: one self-contained HTML file about a run (plots embedded as PNG).

Sections: summary (config, seed, versions, duration, failures and their reasons), best score
per round, score distribution per round, the funnel of each hyperparameter's range per round
with the elite's values, score against each hyperparameter, a parallel-coordinates view of
the top trials, importance, the top trials, and the sealed test score. Plots are drawn with
matplotlib (Agg, no display); nothing is fetched from the network to view the file.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.data.run_store import RunStore
from orchestrator.data.tune_result import TuneResult
from orchestrator.redact import redact_record, redact_uri
from orchestrator.search.pareto import counted, front_rows
from orchestrator.search.space import Choice, SearchSpace
from orchestrator.search.trials import ranked

SECTIONS = (
    "summary",
    "best-per-round",
    "scores-per-round",
    "ranges",
    "score-vs-parameter",
    "parallel-coordinates",
    "importance",
    "top-trials",
    "test",
)


def _figure(width: float = 7.0, height: float = 3.2) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=100)


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _ok(result: TuneResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = result.table
    rows = ranked(t, result.mode)
    rounds = t.column("round").to_numpy()[rows]
    scores = t.column("score").to_numpy(zero_copy_only=False)[rows]
    return rows, rounds, scores


def plot_best_per_round(result: TuneResult) -> bytes:
    _, rounds, scores = _ok(result)
    fig, ax = _figure()
    best, xs, ys = None, [], []
    pick = max if result.mode == "max" else min
    for r in range(result.rounds_run):
        here = scores[rounds == r]
        if here.size:
            best = pick(best, pick(here)) if best is not None else pick(here)
            xs.append(r + 1)
            ys.append(best)
    ax.plot(xs, ys, marker="o")
    ax.set(
        xlabel="round", ylabel=f"best score so far ({result.mode})", title="Best score per round"
    )
    return _png(fig)


def plot_scores_per_round(result: TuneResult) -> bytes:
    _, rounds, scores = _ok(result)
    fig, ax = _figure()
    data = [scores[rounds == r] for r in range(result.rounds_run)]
    ax.boxplot([d if d.size else [np.nan] for d in data], showfliers=True)
    ax.set(xlabel="round", ylabel="score", title="Score distribution per round (ok trials)")
    return _png(fig)


def plot_range_funnel(result: TuneResult, name: str) -> bytes:
    ranges = [r for r in result.ranges.to_pylist() if r["parameter"] == name]
    t = result.table
    rows, rounds, _ = _ok(result)
    elite = rows[: max(3, len(rows) // 5)]
    fig, ax = _figure(7, 2.8)
    xs = [r["round"] + 1 for r in ranges]
    ax.fill_between(
        xs,
        [r["low"] for r in ranges],
        [r["high"] for r in ranges],
        step="mid",
        alpha=0.3,
        label="range",
    )
    values = t.column(name).to_numpy(zero_copy_only=False)
    ax.scatter(
        t.column("round").to_numpy()[elite] + 1,
        values[elite],
        s=12,
        color="C3",
        label="elite trials",
    )
    if ranges and ranges[0]["log"]:
        ax.set_yscale("log")
    ax.set(xlabel="round", ylabel=name, title=f"{name}: range per round")
    ax.legend(loc="best", fontsize=8)
    return _png(fig)


def _space(result: TuneResult) -> SearchSpace:
    """The run's first ranges (its space), or its final ones for a result that has none."""
    return result.space or result.final_space


def plot_score_vs(result: TuneResult, name: str) -> bytes:
    rows, _, scores = _ok(result)
    dim = _space(result)[name]
    fig, ax = _figure(3.4, 2.8)
    column = result.table.column(name).to_pylist()
    values = [column[i] for i in rows]
    if dim.when:  # only the trials where it was active
        keep = [i for i, v in enumerate(values) if v is not None]
        values, scores = [values[i] for i in keep], scores[keep]
        ax.set_title(f"active when {dim.condition()}", fontsize=7)
    if isinstance(dim, Choice):
        labels = [json.dumps(v) if not isinstance(v, str) else v for v in dim.values]
        keyed = [json.dumps(v) if not isinstance(v, str) else v for v in values]
        ax.scatter([labels.index(k) if k in labels else -1 for k in keyed], scores, s=8)
        ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
    else:
        ax.scatter(values, scores, s=8)
        if dim.log:
            ax.set_xscale("log")
    ax.set(xlabel=name, ylabel="score")
    return _png(fig)


def plot_parallel(result: TuneResult, top: int = 20) -> bytes:
    rows, _, scores = _ok(result)
    rows, scores = rows[:top], scores[:top]
    numeric = {n: d for n, d in _space(result).items() if not isinstance(d, Choice)}
    names = list(numeric)
    fig, ax = _figure(7, 3.2)
    if names and rows.size:
        cols = []
        for n, dim in numeric.items():
            v = dim.to_scaled(
                result.table.column(n).to_numpy(zero_copy_only=False)[rows].astype(float)
            )
            active = np.isfinite(v)  # an inactive conditional value is a gap in its line
            lo, hi = (v[active].min(), v[active].max()) if active.any() else (0.0, 0.0)
            scaled = (v - lo) / (hi - lo) if hi > lo else np.full_like(v, 0.5)
            cols.append(np.where(active, scaled, np.nan))
        grid = np.column_stack(cols)
        colors = (scores - scores.min()) / (np.ptp(scores) or 1)
        import matplotlib.cm as cm

        for line, c in zip(grid, colors):
            ax.plot(range(len(names)), line, color=cm.viridis(c), alpha=0.8)
        ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set(ylabel="position in the top trials' span", title=f"Top {len(rows)} trials")
    return _png(fig)


def plot_front(result: TuneResult) -> bytes:
    """Every counted trial on the first two objectives; the front joined as a staircase, the
    reported result circled."""
    assert result.objectives is not None
    t = result.table
    a, b = result.objectives.names[:2]
    rows = counted(t, result.objectives)
    front = front_rows(t, result.objectives)
    fig, ax = _figure(7, 3.6)
    xs = t.column(a).to_numpy(zero_copy_only=False).astype(float)
    ys = t.column(b).to_numpy(zero_copy_only=False).astype(float)
    ax.scatter(xs[rows], ys[rows], s=8, color="0.6", label="trials")
    ax.step(xs[front], ys[front], where="post", color="C3", label=f"Pareto front ({front.size})")
    ax.scatter(xs[front], ys[front], s=14, color="C3")
    if result.best_trial_id is not None:
        pick = np.flatnonzero(t.column("trial_id").to_numpy() == result.best_trial_id)
        ax.scatter(xs[pick], ys[pick], s=90, facecolors="none", edgecolors="k", label="result")
    ax.set(
        xlabel=f"{a} ({result.objectives.modes[0]})", ylabel=f"{b} ({result.objectives.modes[1]})"
    )
    ax.set_title("Objectives: every trial and the front")
    ax.legend(loc="best", fontsize=8)
    return _png(fig)


def plot_importance(shares: dict[str, float] | None) -> bytes:
    fig, ax = _figure(7, 2.6)
    if shares:
        names = list(shares)[::-1]
        ax.barh(names, [shares[n] for n in names])
        ax.set(xlabel="share of the score's variation")
    else:
        ax.text(0.5, 0.5, "not enough ok trials", ha="center", va="center")
    ax.set_title("Importance")
    return _png(fig)


def _img(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _table(rows: list[list[Any]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figures(result: TuneResult, shares: dict[str, float] | None = None) -> dict[str, bytes]:
    """Every plot of the report, by file name."""
    out = {
        "best_per_round.png": plot_best_per_round(result),
        "scores_per_round.png": plot_scores_per_round(result),
        "parallel_coordinates.png": plot_parallel(result),
        "importance.png": plot_importance(shares if shares is not None else result.importance()),
    }
    if result.objectives is not None:
        out["pareto_front.png"] = plot_front(result)
    for name, dim in _space(result).items():
        if not isinstance(dim, Choice):
            out[f"range_{name}.png"] = plot_range_funnel(result, name)
        out[f"score_vs_{name}.png"] = plot_score_vs(result, name)
    return out


def _summary(result: TuneResult, meta: dict[str, Any]) -> str:
    statuses = Counter(result.table.column("status").to_pylist())
    errors = Counter(e for e in result.table.column("error").to_pylist() if e)
    config = meta.get("config", {})
    facts = [
        ["run folder", redact_uri(str(result.run_dir))],
        ["state", meta.get("state")],
        ["stopped", result.stop_reason],
        ["mode", result.mode],
        ["seed", config.get("seed")],
        ["rounds run", result.rounds_run],
        ["trials", ", ".join(f"{v} {k}" for k, v in sorted(statuses.items()))],
        ["best score", result.best_score],
        ["best configuration", result.best_config],
        ["duration (s)", meta.get("duration_s")],
        ["workers", meta.get("workers")],
        ["versions", ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())],
    ]
    failures = (
        _table([[n, e] for e, n in errors.most_common(10)], ["trials", "error"])
        if errors
        else "<p>No failures.</p>"
    )
    return (
        _table(facts, ["", ""])
        + "<h3>Failures</h3>"
        + failures
        + "<details><summary>Config (resolved)</summary>"
        + f"<pre>{html.escape(json.dumps(config, indent=2, default=str))}</pre></details>"
    )


def _choices_table(result: TuneResult) -> str:
    rows = [
        [
            r["round"] + 1 if r["sampled"] else "final",
            r["parameter"],
            r["choices"],
            r["action"],
            redact_uri(r["reason"]),
        ]
        for r in result.ranges.to_pylist()
        if r["type"] == "choice"
    ]
    return _table(rows, ["round", "parameter", "choices", "action", "reason"]) if rows else ""


def _decisions_table(result: TuneResult) -> str:
    """Every decision that changed a range's kind: growth, pruning, freezing, releasing."""
    rows = [
        [
            r["round"] + 1 if r["sampled"] else "final",
            r["parameter"],
            r["action"],
            redact_uri(r["reason"]),
        ]
        for r in result.ranges.to_pylist()
        if r["action"] in ("grow", "prune", "freeze", "release")
    ]
    if not rows:
        return ""
    return "<h3>Growth, pruning and staged decisions</h3>" + _table(
        rows, ["round", "parameter", "action", "reason"]
    )


def _top_table(result: TuneResult, k: int = 10) -> str:
    space = _space(result)
    names = list(space)
    rows = [
        [r["round"] + 1, r["trial_id"], r["score"]]
        + ["-" if space[n].when and r[n] is None else r[n] for n in names]
        for r in result.top(k).to_pylist()
    ]
    return _table(rows, ["round", "trial", "score", *names])


def _test(meta: dict[str, Any]) -> str:
    test = meta.get("test")
    if not test:
        return "<p>No test evaluation: the test set of this run is sealed or it has none.</p>"
    return _table(
        [
            ["test score", test["score"]],
            ["scoring", test["scoring"]],
            ["validation score", test.get("validation_score")],
            ["configuration", test["config"]],
            ["evaluated at", test["evaluated_at"]],
            ["test rows", test["n_test_rows"]],
        ],
        ["", ""],
    )


_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
    "padding:2px 6px;font-size:13px;text-align:left}img{max-width:100%}"
    "section{margin-bottom:2em}pre{background:#f6f6f6;padding:.5em;overflow:auto}"
)


def build_report(run_dir: Any) -> str:
    """The HTML text of the report of the run in ``run_dir``."""
    return _render(*_gather(run_dir))


def _gather(run_dir: Any) -> tuple[TuneResult, dict[str, Any], dict | None, dict[str, bytes]]:
    """Everything a report shows, computed once (importance fits a forest)."""
    result = TuneResult.load(run_dir)
    meta = redact_record(RunStore.open(run_dir).metadata())  # older runs recorded secrets
    shares = result.importance()
    return result, meta, shares, figures(result, shares)


def _render(
    result: TuneResult, meta: dict[str, Any], shares: dict | None, figs: dict[str, bytes]
) -> str:
    names = list(_space(result))
    parts = {
        "summary": ("Summary", _summary(result, meta)),
    }
    if "pareto_front.png" in figs:
        front = result.pareto_front()
        objectives = list(result.objectives.names) if result.objectives else []
        parts["pareto-front"] = (
            "Pareto front",
            _img(figs["pareto_front.png"], "Pareto front")
            + _table(
                [
                    [r["trial_id"], *[r[n] for n in objectives], *[r[n] for n in names]]
                    for r in front.to_pylist()
                ],
                ["trial", *objectives, *names],
            ),
        )
    parts |= {
        "best-per-round": (
            "Best score per round",
            _img(figs["best_per_round.png"], "best per round"),
        ),
        "scores-per-round": (
            "Scores per round",
            _img(figs["scores_per_round.png"], "scores per round"),
        ),
        "ranges": (
            "Ranges per round",
            "".join(
                _img(figs[f"range_{n}.png"], f"range of {n}")
                for n in names
                if f"range_{n}.png" in figs
            )
            + _choices_table(result)
            + _decisions_table(result),
        ),
        "score-vs-parameter": (
            "Score against each hyperparameter",
            "".join(_img(figs[f"score_vs_{n}.png"], f"score vs {n}") for n in names),
        ),
        "parallel-coordinates": (
            "Top trials, parallel coordinates",
            _img(figs["parallel_coordinates.png"], "parallel coordinates"),
        ),
        "importance": (
            "Importance",
            _img(figs["importance.png"], "importance")
            + (
                _table([[n, f"{s:.1%}"] for n, s in shares.items()], ["parameter", "share"])
                if shares
                else ""
            ),
        ),
        "top-trials": ("Top trials", _top_table(result)),
        "test": ("Test score", _test(meta)),
    }
    body = "".join(
        f'<section id="{key}"><h2>{html.escape(title)}</h2>{content}</section>'
        for key, (title, content) in parts.items()
    )
    title = html.escape(f"sweep report: {meta.get('name', '')}")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}'
        f"</title><style>{_STYLE}</style></head><body><h1>{title}</h1>{body}</body></html>"
    )


def write_report(run_dir: Any, output: str | Path, png_dir: str | Path | None = None) -> Path:
    """Write the report (and, with ``png_dir``, every plot as a PNG file)."""
    gathered = _gather(run_dir)
    figs = gathered[3]
    output = Path(output)
    output.write_text(_render(*gathered), encoding="utf-8")
    if png_dir is not None:
        folder = Path(png_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in figs.items():
            (folder / name).write_bytes(data)
    return output
