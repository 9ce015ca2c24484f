"""The Markdown table and the PNG charts of one run's results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .pairing import paired_ratio
from .registry import STORE_TITLES, STORES

# TARGETS.md: each store's goal for sessionary's cycle, in raw cycles per cycle.
TARGET_X_RAW = {
    "redis": 1.10,
    "memcached": 1.25,
    "sqlite": 1.5,
    "postgresql": 1.3,
    "cached_db": 1.3,
    "file": 1.5,
    "cookie": 1.3,
}
_KIND_ORDER = {"raw": 0, "ours": 1, "peer": 2}
_MODE_ORDER = {"sync": 0, "async": 1, "async x32": 2}


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _store_rows(report: dict[str, Any], store: str) -> list[dict[str, Any]]:
    rows = [r for r in report["cases"] if r["store"] == store and r["kind"] in _KIND_ORDER]
    return sorted(
        rows, key=lambda r: (_KIND_ORDER[r["kind"]], _MODE_ORDER[r["mode"]], r["library"])
    )


def _label(r: dict[str, Any]) -> str:
    if r["kind"] == "ours":
        return f"**sessionary** ({r['mode']})"
    if r["kind"] == "raw":
        return f"raw: {r['library']}"
    return f"{r['library']} ({r['mode']})" if r["mode"] != "sync" else r["library"]


def write_markdown(report: dict[str, Any], charts: list[str]) -> str:
    m = report["machine"]
    method = (
        f" {report['timed_runs']} interleaved rounds: each store's cases, with the framework"
        " floors they need, each in its own fresh process, take one timed run apiece per"
        " round in a shuffled order, so that the cases compared saw the same machine;"
        " figures are medians over rounds, and × raw and the end-to-end price are"
        " paired by round;"
    )
    lines = [
        f"Run of {report['created']} ({'quick' if report['quick'] else 'full'}):"
        f" {report['sessions']:,} sessions of about 190 bytes,{method}"
        f" {report['seconds'] / 60:.1f} minutes in all.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['implementation']} {m['python']},"
        f" {m['system']}.",
        "",
        "One cycle: load a session by its key, read `user_id`, flip `theme`, save."
        " **× raw** is how many raw-floor cycles of the same store (and the same mode:"
        " async libraries against the async driver) one cycle costs; an async floor's"
        " × raw is against the sync driver. *x32* runs 32 concurrent tasks on one event"
        " loop. × raw is the median over rounds of the two cycles' ratio in that round;"
        " cycles/s the median over rounds; p50 and p99 over every timed cycle."
        " Spread is (max − min) / median of the timed runs.",
        "",
    ]
    for store in STORES:
        rows = _store_rows(report, store)
        if not rows:
            continue
        lines += [
            f"### {STORE_TITLES[store]}",
            "",
            "| case | cycles/s | × raw | p50 µs | p99 µs | spread |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            if r.get("status") != "ok":
                lines.append(f"| {_label(r)} | {r.get('status')}: {r.get('reason', '')} | | | | |")
                continue
            lines.append(
                f"| {_label(r)} | {_num(r['cycles_per_s'])} | {_num(r.get('x_raw'), 2)}"
                f" | {_num(r['p50_us'])} | {_num(r['p99_us'])} | {r['spread_pct']:.0f}% |"
            )
        lines.append("")

    e2e = [r for r in report["cases"] if r["kind"] in ("e2e", "floor")]
    if e2e:
        lines += [
            "### End to end: the per-request price of turning sessions on",
            "",
            "Each middleware called in-process with a request carrying the cookie; the price"
            " is its mean time per request minus the same framework's no-session floor,"
            " taken in each round (the floor measured in the same round) and the median"
            " over rounds shown, with the lowest and highest round's price beside it;"
            " the floor column is the floor's median over those rounds. *p50 price* does"
            " the same with each round's median request, which a busy machine's slow tail"
            " does not move.",
            "",
            "| middleware | store | requests/s | µs/request | floor µs | **price µs**"
            " | price range µs | p50 price µs | p99 µs |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in sorted(e2e, key=lambda r: (r["kind"] != "floor", r["store"], r["library"])):
            if r.get("status") != "ok":
                lines.append(
                    f"| {r['library']} | {r['store']} | {r.get('status')}: {r.get('reason', '')}"
                    " | | | | | | |"
                )
                continue
            low, high = r.get("price_range_us") or (None, None)
            spread = f"{_num(low, 1)} – {_num(high, 1)}" if low is not None else "–"
            lines.append(
                f"| {r['library']} | {r['store']} | {_num(r['cycles_per_s'])}"
                f" | {_num(r['mean_us'], 1)} | {_num(r.get('floor_us'), 1)}"
                f" | {_num(r.get('price_us'), 1)} | {spread}"
                f" | {_num(r.get('price_p50_us'), 1)} | {_num(r['p99_us'])} |"
            )
        lines.append("")

    targets = target_lines(report)
    if targets:
        lines += ["### Against the targets", "", *targets, ""]

    scale = report.get("scale") or []
    if scale:
        lines += [
            "### `clear_expired()` over dead records",
            "",
            "Peak Python memory under tracemalloc (which also slows the run), at two counts:"
            " it must not grow with the count.",
            "",
            "| store | dead records | seconds | records/s | peak KiB |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in scale:
            if r.get("status") != "ok":
                why = f"{r.get('status')}: {r.get('reason')}"
                lines.append(f"| {r['store']} | {r['records']:,} | {why} | | |")
                continue
            lines.append(
                f"| {r['store']} | {r['records']:,} | {r['seconds']:.2f}"
                f" | {_num(r['records_per_s'])} | {_num(r['peak_kib'])} |"
            )
        lines.append("")

    lines += [f"![{name}]({name})" for name in charts]
    if charts:
        lines.append("")
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v)
    lines += [f"Versions: {versions}.", ""]
    return "\n".join(lines)


def target_lines(report: dict[str, Any]) -> list[str]:
    """One line per store: × raw against its target, and the speed-up over Django (paired)."""
    ok = [r for r in report["cases"] if r.get("status") == "ok"]
    lines = []
    for store, goal in TARGET_X_RAW.items():
        ours = next(
            (
                r
                for r in ok
                if r["store"] == store and r["name"].endswith("/sync") and r["kind"] == "ours"
            ),
            None,
        )
        if ours is None or "x_raw" not in ours:
            continue
        verdict = "met" if ours["x_raw"] <= goal else f"missed by {ours['x_raw'] / goal - 1:.0%}"
        text = (
            f"- {STORE_TITLES[store]}: sessionary (sync) {ours['x_raw']:.2f} × raw,"
            f" target ≤ {goal} ({verdict})"
        )
        django = next(
            (
                r
                for r in ok
                if r["store"] == store and r["library"].startswith("Django") and r["kind"] == "peer"
            ),
            None,
        )
        speedup = django and paired_ratio(django["rounds_us"], ours["rounds_us"])
        if speedup:
            text += f"; {speedup:.1f}× Django's speed (target ≥ 2)"
        lines.append(text + ".")
    return lines


def write_charts(report: dict[str, Any], out: Path) -> list[str]:
    """cycles.png and ratio.png, grouped by store; nothing if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    stores = [s for s in STORES if any(r.get("status") == "ok" for r in _store_rows(report, s))]
    if not stores:
        return []
    written = []
    colours = {"raw": "#9e9e9e", "ours": "#1f77b4", "peer": "#ff7f0e"}
    for filename, field, title in (
        ("cycles.png", "cycles_per_s", "cycles/s, each store on its own scale (higher is better)"),
        ("ratio.png", "x_raw", "× raw floor of the same store (lower is better)"),
    ):
        rows_by_store = {
            s: [r for r in _store_rows(report, s) if r.get("status") == "ok" and r.get(field)]
            for s in stores
        }
        # A partial run (say --only ours) has no ratios for some stores: chart the rest.
        rows_by_store = {s: rows for s, rows in rows_by_store.items() if rows}
        if not rows_by_store:
            continue
        height = sum(len(rows) + 1.5 for rows in rows_by_store.values()) * 0.28 + 1
        fig, axes = plt.subplots(
            len(rows_by_store),
            1,
            figsize=(9, height),
            squeeze=False,
            gridspec_kw={"height_ratios": [len(rows) + 0.5 for rows in rows_by_store.values()]},
        )
        for ax, store in zip(axes[:, 0], rows_by_store, strict=True):
            rows = rows_by_store[store][::-1]
            values = [r[field] for r in rows]
            ax.barh(range(len(rows)), values, color=[colours[r["kind"]] for r in rows], height=0.7)
            ax.set_yticks(range(len(rows)), [_label(r).replace("**", "") for r in rows], fontsize=7)
            ax.set_title(STORE_TITLES[store], fontsize=9, loc="left")
            ax.tick_params(axis="x", labelsize=7)
            ax.set_xlim(0, max(values) * 1.15)
            if field == "x_raw":
                ax.axvline(1.0, color="black", linewidth=0.6)
                goal = TARGET_X_RAW.get(store)
                if goal:
                    ax.axvline(goal, color="#2ca02c", linewidth=0.8, linestyle="--")
            for y, value in enumerate(values):
                ax.text(
                    value,
                    y,
                    f" {value:,.0f}" if field == "cycles_per_s" else f" {value:.2f}",
                    va="center",
                    fontsize=6,
                )
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        fig.savefig(out / filename, dpi=110)
        plt.close(fig)
        written.append(filename)
    return written
