"""The speed harness's own rules (``benchmarks/speed.py``, ``benchmarks/speed_timing.py``) on
hand-made figures: interleaving, medians and paired ratios, percentiles, cores busy, machine
load, goals judged, the results record and the README table. No timing is asserted: the
clocks are replaced where a figure depends on them."""

import json
import re
import sys
import types

import pytest

from benchmarks import speed, speed_loop, speed_timing
from benchmarks.speed_timing import (
    MachineLoad,
    Usage,
    compare,
    paired,
    percentiles,
    summarise,
)

# --- speed_timing ---------------------------------------------------------------------------------


def test_compare_interleaves_rotates_and_warms_up(monkeypatch):
    calls = []
    arms = {name: (lambda n=name: calls.append(n)) for name in "abc"}
    monkeypatch.setattr(speed_timing, "time_call", lambda fn: fn() or 1.0)
    result = compare(arms, repeats=3, warmup=1)
    # warm-up round in order, then each round rotated by one
    assert calls == list("abc") + list("abc") + list("bca") + list("cab")
    assert result["repeats"] == 3 and result["warmup"] == 1
    assert result["reference"] == "a"
    assert result["ratio"] == {"a": 1.0, "b": 1.0, "c": 1.0}


def test_compare_ratios_are_paired_per_round(monkeypatch):
    # round r: a takes 1, 2, 4 s; b always twice a, except a slow outlier round
    seconds = {"a": iter([1.0, 2.0, 4.0]), "b": iter([2.0, 40.0, 8.0])}
    current = {}

    def fake_time_call(fn):
        fn()
        return next(seconds[current["arm"]])

    def arm(name):
        return lambda: current.update(arm=name)

    monkeypatch.setattr(speed_timing, "time_call", fake_time_call)
    result = compare({"a": arm("a"), "b": arm("b")}, repeats=3, warmup=0)
    assert result["times_s"] == {"a": [1.0, 2.0, 4.0], "b": [2.0, 40.0, 8.0]}
    assert result["median_s"] == {"a": 2.0, "b": 8.0}
    assert result["ratio"]["b"] == 2.0  # median of 2, 20, 2
    assert result["ratio_of_medians"]["b"] == 4.0


def test_compare_rejects_no_arms_and_an_unknown_reference():
    with pytest.raises(ValueError, match="no arms"):
        compare({})
    with pytest.raises(ValueError, match="reference"):
        compare({"a": lambda: None}, reference="z")


def test_summarise_by_hand():
    record = summarise({"ref": [1.0, 2.0, 3.0], "x": [2.0, 2.0, 9.0]}, "ref")
    assert record["median_s"] == {"ref": 2.0, "x": 2.0}
    assert record["ratio"] == {"ref": 1.0, "x": 2.0}  # median of 2, 1, 3
    assert record["ratio_of_medians"] == {"ref": 1.0, "x": 1.0}
    # three rounds: only the whole range (ratios 1, 2, 3) holds the median, with 1 - 2/8
    assert record["ratio_interval"] == {"x": {"low": 1.0, "high": 3.0, "confidence": 0.75}}


@pytest.mark.parametrize(
    "n, confidence, k, coverage",
    [
        # coverage of (x_(k), x_(n+1-k)) = 1 - 2 * sum_{i<k} C(n, i) / 2^n
        (7, 0.9, 1, 1 - 2 / 128),  # k=2 would hold 1 - 2*8/128 = 0.875 only
        (7, 0.8, 2, 1 - 2 * 8 / 128),
        (9, 0.9, 2, 1 - 2 * 10 / 512),  # k=3: 1 - 2*46/512 = 0.82
        (11, 0.9, 3, 1 - 2 * 67 / 2048),  # k=4: 1 - 2*232/2048 = 0.773
        (1, 0.9, 1, 0.0),  # one value: no interval can hold the median for sure
    ],
)
def test_median_interval_by_hand(n, confidence, k, coverage):
    values = [10.0 + i for i in range(n)][::-1]  # unsorted on purpose
    interval = speed_timing.median_interval(values, confidence)
    assert interval == {
        "low": 10.0 + k - 1,
        "high": 10.0 + n - k,
        "confidence": round(coverage, 3),
    }
    assert speed_timing.median_interval([], confidence) is None


def test_percentiles_are_nearest_rank():
    assert percentiles(range(1, 101)) == {"p50": 50, "p99": 99}
    assert percentiles([5, 1, 4, 2, 3], (50, 90, 100)) == {"p50": 3, "p90": 5, "p100": 5}
    assert percentiles([7.0]) == {"p50": 7.0, "p99": 7.0}
    with pytest.raises(ValueError):
        percentiles([])


def test_cores_busy_is_cpu_over_wall():
    usage = Usage(wall_s=2.0, cpu_s=3.0)
    assert usage.cores_busy == 1.5
    assert set(usage.as_dict()) == {"wall_s", "cpu_s", "cores_busy", "peak_rss_mb"}
    assert Usage(wall_s=0.0, cpu_s=1.0).cores_busy == 0.0


def test_cpu_usage_returns_the_result_and_peak_rss_is_positive():
    usage = speed_timing.cpu_usage(lambda: 42)
    assert usage.result == 42 and usage.wall_s >= 0 and usage.cpu_s >= 0
    assert speed_timing.peak_rss_mb() > 0


def test_machine_load_counts_what_others_took(monkeypatch):
    # (wall, machine busy seconds, our CPU seconds): 10 s, the machine 15 s busy, we 8
    samples = iter([(100.0, 1000.0, 50.0), (110.0, 1015.0, 58.0)])
    load = MachineLoad()
    monkeypatch.setattr(load, "_sample", lambda: next(samples))
    load.start()
    load.stop()
    figures = load.as_dict()
    assert figures["wall_s"] == 10.0
    assert figures["own_cores_busy"] == 0.8
    assert figures["machine_cores_busy"] == 1.5
    assert figures["other_cores_busy"] == 0.7
    assert figures["quiet"] is False


def test_load_average_reads_three_numbers():
    load = speed_timing.load_average()
    assert load is None or (len(load) == 3 and all(x >= 0 for x in load))


# --- goals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "op", "target", "met"),
    [
        (1.1, "<=", 1.2, True),
        (1.2, "<=", 1.2, True),
        (1.3, "<=", 1.2, False),
        (1.7, ">=", 1.6, True),
        (1.5, ">=", 1.6, False),
        (None, ">=", 1.6, None),
        (True, ">=", 1.0, None),  # a bool is no figure
    ],
)
def test_judge(value, op, target, met):
    assert speed.judge({"name": "g", "value": value, "op": op, "target": target}) is met


def test_judge_refuses_an_unknown_op():
    with pytest.raises(ValueError, match="op"):
        speed.judge({"name": "g", "value": 1.0, "op": "≈", "target": 1.0})


def test_judged_accepts_goals_as_a_dict():
    section = speed.judged({"goals": {"ratio": {"value": 0.9, "op": "<=", "target": 1.0}}})
    assert section["goals"] == [
        {"name": "ratio", "value": 0.9, "op": "<=", "target": 1.0, "met": True}
    ]
    assert speed.judged({"x": 1}) == {"x": 1, "goals": []}


# --- running sections -----------------------------------------------------------------------------


def test_a_missing_section_module_is_not_available():
    result = speed.measure_here("no_such_section", quick=True)
    assert result["available"] is False
    assert "not available" in result["error"]


def test_a_failing_section_is_recorded_not_raised(monkeypatch):
    module = types.ModuleType("benchmarks.speed_boom")
    module.measure = lambda quick: 1 / 0
    monkeypatch.setitem(sys.modules, "benchmarks.speed_boom", module)
    result = speed.measure_here("boom", quick=True)
    assert result["available"] is True
    assert result["error"].startswith("ZeroDivisionError")


def test_a_section_dict_is_kept(monkeypatch):
    module = types.ModuleType("benchmarks.speed_fine")
    module.measure = lambda quick: {"quick_was": quick, "goals": []}
    monkeypatch.setitem(sys.modules, "benchmarks.speed_fine", module)
    assert speed.measure_here("fine", quick=True) == {
        "available": True,
        "quick_was": True,
        "goals": [],
    }


def test_section_worker_writes_its_result(tmp_path):
    out = tmp_path / "section.json"
    assert speed.main(["--section-worker", "no_such_section", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["available"] is False


def test_a_run_stopped_during_a_section_keeps_the_sections_it_finished(monkeypatch, tmp_path):
    out = tmp_path / "speed.json"

    def run_section(name, quick, workdir, tasks=None):
        if name == "loop":
            raise KeyboardInterrupt  # a run stopped while its second section runs
        goal = {"name": "g", "value": 1.0, "op": "<=", "target": 1.05, "unit": "×"}
        return {"available": True, "goals": [goal]}

    work = tmp_path / "speed-work"

    def mkdtemp(prefix):
        work.mkdir()
        (work / "cells.json").write_text("{}")  # the finished section's own file
        return str(work)

    monkeypatch.setattr(speed, "run_section", run_section)
    monkeypatch.setattr(speed.tempfile, "mkdtemp", mkdtemp)
    with pytest.raises(KeyboardInterrupt):
        speed.main(["--only", "cells,loop", "--out", str(out)])
    assert not work.exists()  # no temporary directory left behind
    record = json.loads(out.read_text())
    assert list(record["sections"]) == ["cells"]
    assert record["goals"]["met"] == 1
    assert record["sections"]["cells"]["command"] == (
        f"python -m benchmarks.speed --only cells,loop --out {out}"
    )


def _loop_task(ratio, **extra):
    """A task's result as :func:`speed_loop.measure_task` makes it, the figures that matter."""
    return {"loop_ratio": ratio, "median_s": {"bare": 2.0}, "epoch_steps": 10, **extra}


def test_tasks_rerun_keep_the_other_tasks_and_say_which_run_measured_each(monkeypatch, tmp_path):
    out = tmp_path / "speed.json"
    old_run = {"command": "first", "commit": "aaa", "date": "d1", "machine_load": {"quiet": True}}
    earlier = speed_loop.rebuild(
        {
            "what": speed_loop.WHAT,
            "tasks": {"sentiment": _loop_task(1.01), "ner": _loop_task(1.06)},
            "machine_load": {},
        }
    )
    out.write_text(json.dumps(speed.merged(None, {"loop": {**earlier, **old_run}}, "first")))
    asked = []

    def run_section(name, quick, workdir, tasks=None):
        asked.append((name, tasks))
        return {
            "available": True,
            **speed_loop.rebuild(
                {"what": speed_loop.WHAT, "tasks": {"ner": _loop_task(1.02)}, "machine_load": {}}
            ),
        }

    monkeypatch.setattr(speed, "run_section", run_section)
    speed.main(["--only", "loop", "--tasks", "ner", "--out", str(out)])
    assert asked == [("loop", ["ner"])]
    section = json.loads(out.read_text())["sections"]["loop"]
    assert list(section["tasks"]) == ["sentiment", "ner"]  # the section's order, not the run's
    assert section["tasks"]["sentiment"]["loop_ratio"] == 1.01
    assert section["tasks"]["sentiment"]["measured"] == old_run
    assert section["tasks"]["ner"]["measured"]["command"] == (
        f"python -m benchmarks.speed --only loop --tasks ner --out {out}"
    )
    assert [(g["value"], g["met"]) for g in section["goals"]] == [(1.01, True), (1.02, True)]
    text = speed.table(json.loads(out.read_text()))  # each run's line names its tasks
    assert "- loop (sentiment): `first` at `aaa`, d1," in text
    assert f"- loop (ner): `python -m benchmarks.speed --only loop --tasks ner --out {out}`" in text
    # a second rerun of ner leaves sentiment's provenance as it was
    speed.main(["--only", "loop", "--tasks", "ner", "--out", str(out)])
    again = json.loads(out.read_text())["sections"]["loop"]
    assert again["tasks"]["sentiment"]["measured"] == old_run


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--only", "cells", "--tasks", "ner"], "section cells measures all its tasks at once"),
        (["--only", "loop", "--tasks", "nerr"], "section loop has no task nerr"),
    ],
)
def test_tasks_a_section_cannot_rerun_alone_are_one_line_errors(argv, message):
    with pytest.raises(SystemExit, match=message):
        speed.main(argv)


def test_no_section_is_a_one_line_error():
    with pytest.raises(SystemExit, match="--only: name at least one of cells"):
        speed.main(["--only", " , "])


def test_unknown_section_is_a_one_line_error():
    with pytest.raises(SystemExit, match="unknown bogus"):
        speed.main(["--only", "bogus"])


# --- the record and tables ------------------------------------------------------------------------


def _section(**extra):
    base = {
        "available": True,
        "command": "python -m benchmarks.speed",
        "commit": "abc",
        "date": "2026-12-01T10:00:00+0000",
        "machine_load": {"other_cores_busy": 0.05, "quiet": True},
    }
    return {**base, **extra}


def test_merged_replaces_the_sections_run_and_keeps_the_others():
    previous = speed.merged(
        None,
        {
            "serving": _section(goals=[{"name": "p50", "met": True}]),
            "cells": _section(goals=[{"name": "old", "met": False}]),
        },
        "first",
    )
    record = speed.merged(
        previous, {"cells": _section(goals=[{"name": "new", "met": None}])}, "second"
    )
    assert list(record["sections"]) == ["cells", "serving"]  # the harness's order
    assert record["sections"]["cells"]["goals"][0]["name"] == "new"
    assert record["goals"] == {
        "total": 2,
        "met": 1,
        "not_met": [],
        "unmeasured": ["cells: new"],
    }
    assert record["command"] == "second"
    assert record["complete"] is False


def test_table_rows_goals_figures_and_missing_sections():
    record = {
        "machine": "x86_64, 2 CPU cores, Linux",
        "sections": {
            "cells": _section(
                goals=[
                    {
                        "name": "ln_lstm / keras LSTM",
                        "value": 1.25,
                        "op": "<=",
                        "target": 1.2,
                        "unit": "×",
                        "met": False,
                    },
                    {
                        "name": "loop",
                        "value": 1.055,
                        "op": "<=",
                        "target": 1.05,
                        "unit": "×",
                        "met": False,
                    },
                    {
                        "name": "noisy",
                        "value": 1.02,
                        "op": "<=",
                        "target": 1.05,
                        "unit": "×",
                        "met": True,
                        "interval": {"low": 0.96, "high": 1.081, "confidence": 0.961},
                    },
                ],
                figures=[{"name": "steps", "value": 3}],
            ),
            "beam": {
                **_section(available=False, error="not available: no module b"),
            },
            "serving": _section(
                goals=[{"name": "p50", "value": 0.5, "op": "<=", "target": 1.0, "unit": "ms"}],
                machine_load={"other_cores_busy": 0.9, "quiet": False},
            ),
        },
    }
    record["sections"]["serving"] = speed.judged(record["sections"]["serving"])
    text = speed.table(record)
    lines = text.splitlines()
    assert lines[0] == "| section | figure | value | goal | |"
    assert "| cells | ln_lstm / keras LSTM | 1.25× | <= 1.2× | **not met** |" in lines
    assert "| cells | loop | 1.055× | <= 1.05× | **not met** |" in lines  # not "1.05×"
    assert "| cells | noisy | 1.02× (0.96–1.08 at 96%) | <= 1.05× | met |" in lines
    assert "| cells | steps | 3 |  |  |" in lines
    assert "| beam | not available: no module b | — |  | not available yet |" in lines
    assert "| serving | p50 | 0.5 ms | <= 1 ms | met |" in lines
    assert "`python -m benchmarks.speed` at `abc`, 2026-12-01, x86_64, 2 CPU cores, Linux." in text
    assert "others kept 0.90 cores busy" in text
    assert "cells" not in text.split("Measured while")[1]  # quiet sections are not listed


def test_table_without_results():
    assert "not been run yet" in speed.table(None)


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1.2345, "×", "1.23×"),
        (0.4391, "ms", "0.439 ms"),
        (12345.6, "", "12,346"),
        (None, "ms", "—"),
        (True, "", "yes"),
        ("5 / 7", "ms", "5 / 7 ms"),
    ],
)
def test_fmt(value, unit, text):
    assert speed.fmt(value, unit) == text


def test_readme_speed_block_matches_the_results_file():
    text = speed.README.read_text(encoding="utf-8")
    if speed.START not in text:
        pytest.skip("README has no speed block yet")
    assert speed.readme_block(text) == speed.table(speed.load()), (
        "run: python -m benchmarks.speed --write-readme"
    )


@pytest.mark.parametrize(
    "args, expected",
    [
        ((170, None, 900, 32, 1.0), (170, None)),  # whole epochs: nothing cut
        ((366, None, 2500, 64, 0.25), (92, 10)),  # ceil(366/4); ceil(ceil(2500/64)/4)
        ((841, 40, 5000, 64, 0.125), (106, 5)),  # configured validation_steps are cut too
        ((3, None, 1, 64, 0.1), (1, 1)),  # at least one step of each
    ],
)
def test_cut_epoch_by_hand(args, expected):
    assert speed_loop.cut_epoch(*args) == expected


@pytest.mark.parametrize(
    "epoch_s, window_s, expected",
    [
        (0.34, 6.0, 18),  # round(17.6)
        (1.8, 6.0, 3),  # round(3.33)
        (4.0, 6.0, 2),  # round(1.5), half to even
        (8.0, 6.0, 1),  # an epoch longer than the window: one
        (0.01, 6.0, 20),  # at most 20
        (0.5, 0.0, 1),  # no window: one, as a quick run
    ],
)
def test_timed_epochs_by_hand(epoch_s, window_s, expected):
    assert speed_loop.timed_epochs(epoch_s, window_s) == expected


def test_seconds_per_epoch_leaves_the_first_epoch_out():
    # epochs begin at 0, 5, 7, 9 and the last ends at 11: (11 - 5) / 3 after the first
    assert speed_loop.seconds_per_epoch([0.0, 5.0, 7.0, 9.0], 11.0) == 2.0
    with pytest.raises(ValueError, match="at least 2 epochs, it ran 1"):
        speed_loop.seconds_per_epoch([0.0], 3.0)


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_cut_epoch_refuses_a_share_outside_0_1(fraction):
    with pytest.raises(ValueError, match="fraction"):
        speed_loop.cut_epoch(10, None, 10, 2, fraction)


def test_progress_lines_go_to_stderr_with_tag_and_clock(capsys):
    speed_timing.progress("speed loop")("ner: 3 rounds")
    out, err = capsys.readouterr()
    assert out == ""
    assert re.fullmatch(r"\[speed loop \d\d:\d\d:\d\d\] ner: 3 rounds\n", err)


def test_paired_is_the_median_of_per_round_ratios():
    times = {"a": [2.0, 3.0, 10.0], "b": [1.0, 2.0, 2.0]}  # per round 2, 1.5, 5
    assert paired(times, "a", "b") == 2.0
    assert paired(times, "b", "a") == 0.5  # 0.5, 0.667, 0.2
