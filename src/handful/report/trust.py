"""The report's "How far to trust it" section: the evaluation protocol and groups, the leakage check, the
calibration plot, the prediction sets' coverage and the out-of-distribution rate, in words a non-expert reads."""

from __future__ import annotations

import html
from typing import Any

from handful.report.plots import CHOSEN, OTHER, _figure, _png


def _e(value: Any) -> str:
    return html.escape(str(value))


def reliability_png(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Confidence against how often the model was right, per confidence bin, before and after calibration."""
    figure, axes = _figure(width=5.5, height=4.6)
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="Perfectly calibrated")
    for table, colour, label in ((before, OTHER, "As trained"), (after, CHOSEN, "Calibrated")):
        points = [(c, a, n) for c, a, n in zip(table["confidence"], table["accuracy"], table["count"], strict=True)
                  if n]
        if points:
            axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", color=colour, label=label)
    axes.set_xlim(0, 1.02)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("How sure the model said it was (top label's probability)")
    axes.set_ylabel("How often it was right")
    axes.set_title("Does its confidence mean what it says?")
    axes.legend(loc="upper left", fontsize=8, frameon=False)
    axes.grid(alpha=0.3)
    return _png(figure)


def trust_section(clf: Any) -> str:
    """The section's HTML, or "" for a model saved before it existed."""
    protocol = getattr(clf, "protocol_", None)
    trust = getattr(clf, "trust_", None)
    if not protocol and trust is None:
        return ""
    parts = ['<h2 id="trust">How far to trust it</h2>']
    if protocol:
        line = (f"<p><b>How it was tested:</b> {_e(protocol['text'])}. The scores above are for "
                f"{_e(protocol['scores_for'])}.")
        if protocol.get("grouped") and protocol.get("groups_from"):
            sizes = protocol["group_sizes"]
            line += (f" Examples of one group were never split between training and testing: {protocol['n_groups']} "
                     f"groups of {sizes['min']} to {sizes['max']} examples (median {sizes['median']:g}).")
        elif protocol.get("near_duplicates_merged"):
            line += (f" {protocol['near_duplicates_merged']} pairs of near-identical examples were kept on the same "
                     "side of every split.")
        if protocol.get("groups_hint"):
            line += f" Tip: {_e(protocol['groups_hint'])}"
        parts.append(line + "</p>")
    leakage = getattr(clf, "leakage_", None)
    if leakage:
        kind = "verdict" if leakage["warn"] else "verdict fine"
        parts.append(f'<p class="{kind}"><b>{"Warning: " if leakage["warn"] else ""}Do the examples come in clumps?'
                     f"</b> {_e(leakage['message'])}</p>")
    if trust is not None:
        calibration = trust.summary.get("calibration") or {}
        sets = trust.summary.get("sets") or {}
        ood = trust.summary.get("ood") or {}
        if calibration:
            method = {"none": "left as they were (no correction made them measurably more honest on examples it "
                              "did not train on)",
                      "temperature": f"rescaled (temperature {calibration['temperature']:.2f})",
                      "vector": "rescaled per class"}.get(calibration["method"], calibration["method"])
            plot = reliability_png(calibration["reliability_before"], calibration["reliability_after"])
            parts.append(
                f"<p><b>Are its probabilities honest?</b> The probabilities were {method}. Calibration error (the gap "
                f"between how sure it says it is and how often it is right, 0 is perfect): "
                f"{calibration['ece_before']:.3f} as trained, {calibration['ece_after']:.3f} calibrated, measured on "
                f"examples each model did not train on.{_perfect(calibration)}{_groups(calibration)}</p>"
                f'<img alt="calibration" src="data:image/png;base64,{plot}">')
        if sets:
            parts.append(
                f"<p><b>When it is not sure, it says so.</b> Each prediction comes with a set of labels that holds the "
                f"right one {sets['level']:.0%} of the time (on examples it did not train on: "
                f"{sets['oof_coverage']:.1%}, with {sets['oof_mean_size']:.2f} labels on average). One label means the "
                f"model is sure; two or more (\"ants or bees\") mean it cannot tell them apart; none, that no label "
                f"is likely enough for that level."
                + (" The guarantee is for new groups." if trust.summary.get("new_groups") else "") + "</p>")
        if ood:
            rate = ood.get("oof_flagged")
            parts.append(
                "<p><b>Unlike anything it learned.</b> Inputs far from every training example (in the backbone's "
                f"view) are flagged; the threshold flags {ood['false_alarm']:.0%} of inputs like the training ones"
                + (f" ({rate:.1%} of the training examples, each judged by models that did not see it)"
                   if rate is not None else "") + ". A flagged input's label may be meaningless: "
                "<code>handful predict --abstain</code> answers <i>unknown</i> for it.</p>")
    return "".join(parts)


def _perfect(calibration: dict[str, Any]) -> str:
    """What a perfectly calibrated model would score on as many examples (absent from models saved before it)."""
    high = calibration.get("ece_perfect_high")
    if high is None or high != high:  # noqa: PLR0124 (NaN)
        return ""
    verdict = ("within what chance gives a perfectly calibrated model" if calibration["ece_after"] <= high
               else "more than chance gives a perfectly calibrated model")
    return (f" On this many examples even a perfectly calibrated model shows about "
            f"{calibration['ece_perfect_mean']:.3f} (up to {high:.3f}): the calibrated figure is {verdict}.")


def _groups(calibration: dict[str, Any]) -> str:
    """Whether calibration differs from group to group (absent without groups, and from models saved before it)."""
    by_group = calibration.get("by_group")
    if not by_group:
        return ""
    if by_group["beyond_chance"]:
        return " " + _e("Calibration differs from group to group: " + group_gaps_text(by_group))
    return f" Calibration is alike across its {by_group['groups']} groups, to within chance."


def group_gaps_text(by_group: dict[str, Any]) -> str:
    """In words: how far calibration differs between groups (:func:`handful.evaluation.calibration.group_gaps`)."""
    ends = [f"{by_group[key]['group']} {word} by {abs(by_group[key]['gap']):.2f}"
            for key, word in (("most_over", "over-confident"), ("most_under", "under-confident")) if by_group[key]]
    return (f"across its {by_group['groups']} groups, confidence and accuracy differ by about "
            f"{by_group['rms_gap']:.2f} beyond chance ({'; '.join(ends)}), and a new group will be off its own way: "
            f"read a new group's probabilities as give or take {by_group['rms_gap']:.2f}.")
