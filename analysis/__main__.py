"""Command line: `python -m analysis data|fit|forecast|evaluate|scenario|findings|grid|env|book|update` (see `--help`).

Every failure the user can act on ends in one line (or a short message) saying what
failed and what to do, and a non-zero exit: 2 for bad input or arguments, 1 for a
failed check or render, 130 for Ctrl-C (nothing half-written is left behind).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from analysis import errors
from analysis.errors import BookError, DataError, watch_interrupts


class UsageError(Exception):
    """An argument that cannot work, caught before any work is done."""


def _data(args: argparse.Namespace) -> int:
    import pandas as pd

    from analysis import paths
    from analysis.data import panel
    from analysis.data.sources import Store

    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if args.json else (lambda msg: print(msg, flush=True))
    store = Store(route=args.route, log=not args.json)
    panel.ensure(store, force=args.force, log=log)
    if args.check:
        frame = pd.read_parquet(paths.PANEL)
        dictionary = pd.read_csv(paths.PROCESSED / panel.OUTPUTS["variables"])
        checks = json.loads((paths.PROCESSED / panel.OUTPUTS["checks"]).read_text())
        out = panel.report(frame, dictionary) | {"national_checks": checks["national_totals"], "notes": checks["notes"]}
        if args.json:
            print(json.dumps(out, indent=1))
        else:
            statuses = pd.DataFrame(out["national_checks"])["status"].value_counts()
            checked = ", ".join(f"{n} {status}" for status, n in statuses.items())
            print(f"{out['n_las']} LAs, years {out['years'][0]}–{out['years'][1]}, {len(dictionary)} variables; national totals "
                  f"checked against DfE's: {checked}")
    return 0


def _positive(text: str) -> int:
    """An argument that must be a whole number ≥ 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, not {text!r}")
    return int(text)


def _book(args: argparse.Namespace) -> int:
    from analysis.report import book

    book.build(force=args.force, jobs=args.jobs or book.JOBS)
    return 0


def _update(args: argparse.Namespace) -> int:
    from analysis.data.sources import Store
    from analysis.report import update

    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if args.json else (lambda msg: print(msg, flush=True))
    report, status = update.run(accept=args.accept_revisions, store=Store(route=args.route), render=not args.no_render, log=log)
    print(json.dumps(report.to_dict(), indent=1) if args.json else update.summary(report, args.accept_revisions))
    return status


def _report(report: dict, as_json: bool) -> int:
    """Print a model report (JSON, or indented 'key: value' lines) and return 0 only if its convergence checks passed."""
    print(json.dumps(report, indent=1, default=float) if as_json else "\n".join(_lines(report)))
    return 0 if report["passed"] else 1


def _lines(item, depth: int = 0) -> list[str]:
    """A report as indented 'key: value' lines, numbers to 4 significant figures or whole (the JSON has them in full)."""
    pad = "  " * depth
    if isinstance(item, dict):
        out = []
        for key, value in item.items():
            nested = isinstance(value, (dict, list)) and bool(value) and not _flat(value)
            out += [f"{pad}{key}:", *_lines(value, depth + 1)] if nested else [f"{pad}{key}: {_value(value)}"]
        return out
    return [f"{pad}- {line.strip()}" if i == 0 else f"{pad}  {line.strip()}" for entry in item
            for i, line in enumerate(_lines(entry, 0) if isinstance(entry, dict) else [_value(entry)])]


def _flat(value) -> bool:
    """A list of plain values, printed on one line."""
    return isinstance(value, list) and not any(isinstance(v, (dict, list)) for v in value)


def _value(value) -> str:
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, float) or hasattr(value, "dtype"):
        x = float(value)
        return f"{x:,.0f}" if abs(x) >= 1000 or x.is_integer() else f"{x:.4g}"
    return str(value)


def _fit(args: argparse.Namespace) -> int:
    if args.model == "ehcp":
        from analysis.data import panel
        from analysis.models.ehcp import cli_fit, holdout_range

        frame = panel.load()
        if args.holdout is not None:
            first, last = holdout_range(frame)
            if not first <= args.holdout <= last:
                raise UsageError(f"--holdout must be a January from {first} to {last} (the panel's last), not {args.holdout}")
        return _report(cli_fit(args.holdout, panel_frame=frame), args.json)
    if args.holdout is not None:
        raise UsageError("--holdout applies to the ehcp model only")
    from analysis.models.spend.cli import cli_fit

    return _report(cli_fit(), args.json)


def _forecast(args: argparse.Namespace) -> int:
    from analysis.data import panel
    from analysis.models.ehcp import EHCPModel, publish

    model = EHCPModel(panel.load())
    args.january = model.last_year + 1 if args.january is None else args.january
    if not model.last_year < args.january <= model.forecast_to:
        raise UsageError(f"--january must be one the model forecasts, {model.last_year + 1} to {model.forecast_to} (after the "
                         f"panel's last January, {model.last_year}), not {args.january}")
    table = publish.forecast_table(model, args.january)
    path = publish.path_for(args.january)
    stored = publish.read(path) if path.exists() else None
    try:
        publish.write(table)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    where = path.relative_to(publish.FOLDER.parents[1])
    if stored is not None:
        print(f"{where} already holds this forecast (issued {stored['issued'].iloc[0]}); left as it is", file=sys.stderr)
        return 0
    missing = int(table["median"].isna().sum())
    print(f"wrote {where} ({table['median'].notna().sum()} forecasts; {missing} {'LA' if missing == 1 else 'LAs'} without one)",
          file=sys.stderr)
    return 0


def _scenario(args: argparse.Namespace) -> int:
    from analysis.data import panel
    from analysis.evaluation import scenarios
    from analysis.models.spend import SpendModel
    from analysis.report.value import rounded_scenario

    try:
        if args.la is not None and args.share:
            raise scenarios.ScenarioError("--share moves plans in every LA: leave out --la, or use --move for one LA")
        if args.la is None and args.move:
            raise scenarios.ScenarioError("--move needs --la (the LA whose children move); for every LA use --share")
        moves = [scenarios.Move.parse(*m) for m in args.move] + [scenarios.Move.parse(*m, national=True) for m in args.share]
        assumptions = scenarios.Assumptions(args.year, args.destination_ratio, args.source_ratio, args.transition_cost)
        model = SpendModel(panel.load())
        result = scenarios.Scenario(model, moves, args.la, assumptions).result()
    except scenarios.ScenarioError as exc:
        raise UsageError(str(exc)) from None
    result = rounded_scenario(result)  # at the precision the Monte Carlo error supports
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(scenarios.text(result))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from analysis.evaluation import crosschecks, experiment

    ev = experiment.load()
    return _report(crosschecks.complete(experiment.report(ev), ev), args.json)


def _findings(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from analysis.report import findings

    if args.save and args.check:
        raise UsageError("--check compares the key numbers with the stored ones, which --save would first replace: "
                         "run --check, then --save")
    fresh = findings.key_numbers()
    if args.save:
        print(f"wrote {findings.save(fresh)} and {findings.save_headlines(fresh)}", file=sys.stderr)
    if args.check:
        table = findings.agree(findings.load(), fresh)
        print(table.to_json(orient="records", indent=1) if args.json else table.to_string(index=False, float_format=_value))
        bad = table[~table["agree"]]
        if len(bad):
            print(f"error: {len(bad)} key number(s) differ from results/key_numbers.json by more than "
                  f"{findings.Z:g} combined Monte Carlo standard errors: {', '.join(bad['number'])}", file=sys.stderr)
            return 1
        print(f"all {len(table)} key numbers agree with results/key_numbers.json within {findings.Z:g} combined Monte Carlo "
              "standard errors", file=sys.stderr)
        return 0
    numbers = {k: asdict(v) for k, v in fresh.items()}
    print(json.dumps(numbers, indent=1) if args.json else
          "\n".join(f"{k}: {findings.shown(v)} {v.unit}".rstrip() + f" (MCSE {findings.two_figures(v.mcse)})" for k, v in fresh.items()))
    return 0


#: Grids: name → (module holding the task functions, the function giving the tasks of the full or reduced grid).
GRIDS = {
    "backtest": ("analysis.models.ehcp.backtest", "tasks"),
    "spend-sbc": ("analysis.models.spend.calibration", "sbc_tasks"),
    "spend-holdout": ("analysis.models.spend.calibration", "holdout_tasks"),
    "place-sbc": ("analysis.models.spend.places", "sbc_tasks"),
    "placebos": ("analysis.evaluation.placebos", "tasks"),
    "placebo-crosschecks": ("analysis.evaluation.placebo_crosschecks", "tasks"),
    "placebo-imputation": ("analysis.evaluation.placebo_imputation", "tasks"),
    "placebo-synthetic": ("analysis.evaluation.placebo_synthetic", "tasks"),
    "simulation": ("analysis.evaluation.simulation", "tasks"),
}


def _grid(args: argparse.Namespace) -> int:
    import importlib

    from analysis import grid
    from analysis.models import stored

    module_name, tasks_name = GRIDS[args.name]
    tasks = getattr(importlib.import_module(module_name), tasks_name)(reduced=args.reduced or args.restamp)
    # what a full grid runs on: it must still hold when the results are saved
    made_with = None if args.reduced or args.restamp else stored.stamp(module_name)
    try:
        results = grid.run(tasks, scheduler=args.scheduler, workers=args.workers)
    except OSError as exc:
        if args.scheduler in (None, "serial"):
            raise
        raise UsageError(f"cannot reach the Dask scheduler at {args.scheduler} ({exc}); check the address, or leave out "
                         "--scheduler to run on a local cluster") from None
    if not (args.reduced or args.restamp):
        try:
            path = stored.save(args.name, results, module_name, made_with)
        except stored.StampChanged as exc:
            raise UsageError(str(exc)) from None
        print(f"wrote {path.relative_to(path.parents[1])} ({len(results)} tasks)", file=sys.stderr)
        return 0
    saved = stored.load(args.name)
    differ = [k for k, v in results.items() if not _reproduced(json.loads(json.dumps(v)), saved.results.get(k))]
    outside = [s for s in saved.stale if s != "code"] if args.restamp else saved.stale
    if outside or differ:
        print(f"error: the reduced {args.name} grid does not reproduce results/{args.name}.json "
              f"({'stale: ' + ', '.join(outside) if outside else 'different: ' + ', '.join(differ)}); "
              f"rerun `python -m analysis grid {args.name}`", file=sys.stderr)
        return 1
    if args.restamp and saved.stale:
        stored.restamp(args.name, list(results))
        print(f"the reduced {args.name} grid ({', '.join(results)}) reproduces results/{args.name}.json exactly under "
              "the changed code: its results are stamped with the code as it is now", file=sys.stderr)
        return 0
    print(f"the reduced {args.name} grid ({', '.join(results)}) reproduces results/{args.name}.json exactly", file=sys.stderr)
    return 0


def _reproduced(fresh, saved) -> bool:
    """Whether every value a reduced grid's task computed equals the stored one. A reduced task may compute part
    of a stored task (the synthetic-control placebos fit the first group of a batch), so a mapping is compared
    key by key for the keys it has."""
    if isinstance(fresh, dict):
        return isinstance(saved, dict) and all(k in saved and _reproduced(v, saved[k]) for k, v in fresh.items())
    return fresh == saved


def _env(args: argparse.Namespace) -> int:
    from analysis import grid

    print(grid.environment())
    return 0


def _route(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--from", dest="route", choices=["auto", "mirror", "url"], default="auto", help=help)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="fetch the sources and build data/processed/panel.parquet")
    data.add_argument("--check", action="store_true", help="report coverage and national totals")
    data.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    data.add_argument("--force", action="store_true", help="rebuild the panel even if it is current")
    _route(data, "where files come from: the mirror if it has them, else the URL (auto)")
    data.set_defaults(run=_data)
    fit = sub.add_parser("fit", help="fit a model (cached) and report its diagnostics and held-out scores")
    fit.add_argument("model", choices=["ehcp", "spend"])
    fit.add_argument("--holdout", type=int, default=None, help="ehcp: withhold this January and score its prediction "
                     "(default: the panel's last January)")
    fit.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    fit.set_defaults(run=_fit)
    fc = sub.add_parser("forecast", help="store the EHCP model's forecast of one January for every LA as a dated CSV in results/forecasts/")
    fc.add_argument("--january", type=int, default=None, help="the January to forecast (default: the one after the panel's last)")
    fc.set_defaults(run=_forecast)
    ev = sub.add_parser("evaluate", help="compare Safety Valve and DBV LAs with matched LAs (event study, synthetic control)")
    ev.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    ev.set_defaults(run=_evaluate)
    fd = sub.add_parser("findings", help="the key numbers with their Monte Carlo standard errors (results/key_numbers.json)")
    fd.add_argument("--save", action="store_true", help="store them in results/key_numbers.json, and the key findings the "
                    "book's preface opens with in _key-findings.md")
    fd.add_argument("--check", action="store_true", help="compare them with the stored ones within Monte Carlo error "
                    "(not with --save, which would replace what they are compared with)")
    fd.add_argument("--json", action="store_true", help="print them (or the comparison) as JSON on stdout")
    fd.set_defaults(run=_findings)
    sc = sub.add_parser("scenario", help="the change in a year's high-needs spend if children moved between placement types",
                        description="Placement types: mainstream (state), mainstream_independent, special_state, "
                                    "special_independent, post16 (further education), post16_specialist, other (also written "
                                    "state_mainstream, independent_mainstream, state_special, special, independent, "
                                    "independent_special, non_maintained, post_16, fe, specialist_post_16, specialist_post16, spi, ap, pru; "
                                    "independent alone means independent special); "
                                    "sen_support as a destination only. Example: "
                                    "--la 'West Sussex' --move 120 state_special:mainstream --json")
    sc.add_argument("--la", help="the LA (name as DfE spells it, or code); leave out for every LA, moving --share")
    sc.add_argument("--move", nargs=2, action="append", default=[], metavar=("CHILDREN", "SOURCE:DESTINATION"),
                    help="move this many children in --la, e.g. --move 120 state_special:mainstream (repeatable)")
    sc.add_argument("--share", nargs=2, action="append", default=[], metavar=("SHARE", "SOURCE:DESTINATION"),
                    help="move this share of every LA's plans, e.g. --share 0.1 independent:state_special (repeatable)")
    sc.add_argument("--year", type=int, help="the financial year's unit costs (panel year: 2025 is 2024-25; default the last)")
    sc.add_argument("--destination-ratio", type=float, default=1.0,
                    help="cost of a moved child ÷ the destination type's average plan in the LA (default 1)")
    sc.add_argument("--source-ratio", type=float, default=1.0,
                    help="cost saved per moved child ÷ the source type's average plan in the LA (default 1)")
    sc.add_argument("--transition-cost", type=float, default=0.0, help="one-off £ per child moved (default 0)")
    sc.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    sc.set_defaults(run=_scenario)
    gr = sub.add_parser("grid", help="run a grid of independent fits on Dask and store its summary in results/")
    gr.add_argument("name", choices=sorted(GRIDS))
    gr.add_argument("--scheduler", help="'serial', or the address of an existing Dask scheduler (default: a local cluster, "
                    "or $SEND_VFM_DASK_SCHEDULER)")
    gr.add_argument("--workers", type=_positive, help="worker processes of the local cluster (default: one per CPU)")
    mode = gr.add_mutually_exclusive_group()
    mode.add_argument("--reduced", action="store_true", help="run the reduced grid and check it reproduces the stored results")
    mode.add_argument("--restamp", action="store_true",
                      help="after a code change that leaves the grid's computation as it was: run the reduced grid and, if it "
                           "reproduces the stored results exactly, stamp them with the code as it is now (the record keeps "
                           "the code they were computed with); a change of data, software or numerics needs a rerun")
    gr.set_defaults(run=_grid)
    env = sub.add_parser("env", help="print the pinned numerical environment as shell exports (for Dask workers started elsewhere)")
    env.set_defaults(run=_env)
    bk = sub.add_parser("book", help="build the data, execute the chapters and render the book into _book/")
    bk.add_argument("--force", action="store_true", help="re-execute every chapter even if nothing changed")
    bk.add_argument("--jobs", type=_positive, default=None, help="chapters executed at once, each in its own kernel "
                    "(default: 2, or 1 on a 1-CPU machine; each needs up to about 1.7 GB on Linux, 2.5 GB on macOS and Windows)")
    bk.set_defaults(run=_book)
    up = sub.add_parser("update", help="look for revised, missing and new source files; with --accept-revisions record them, "
                        "rebuild the panel and re-execute exactly the chapters whose data changed",
                        description="Exit status: 0 when done, or nothing changed; 3 when revised files were found and not "
                        "accepted (nothing was changed); 4 when a registered file is neither in the mirror nor downloadable; 1 when a "
                        "step failed (everything is put back as it was); 2 for bad arguments; 130 for Ctrl-C.")
    up.add_argument("--accept-revisions", action="store_true", help="record revised files' new sha256 in data/sources.toml and update")
    up.add_argument("--no-render", action="store_true", help="execute what changed but do not render the book")
    up.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    _route(up, "where published files are looked for: the mirror if it has them, else the URL (auto)")
    up.set_defaults(run=_update)
    args = parser.parse_args(argv)
    watch_interrupts()
    sys.unraisablehook = _unraisable
    try:
        code = _run(args)
    except KeyboardInterrupt:
        print("interrupted: stopped before finishing; nothing half-written was kept (previous outputs are unchanged)", file=sys.stderr)
        return _interrupted()
    if errors._interrupted:
        print("interrupted: too late to stop (Ctrl-C arrived inside compiled code, which carried on); the command finished and its outputs are complete", file=sys.stderr)
        return _interrupted()
    return code


def _unraisable(unraisable) -> None:
    """Ctrl-C raised inside a C callback (Numba's compiler, through ctypes) cannot propagate:
    Python would print it as an ignored exception and carry on. `errors` remembers it, and
    `main` reports it when the command ends; any other unraisable exception is printed as usual."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)


def _interrupted() -> int:
    """Exit status 130 after Ctrl-C. Run as a program, exit at once: everything was cleaned up
    on the way out, and a normal interpreter shutdown after an interruption ends in death by
    SIGINT (status -2) about once in forty interruptions (cause not found)."""
    if __name__ == "__main__":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    return 130


def _run(args: argparse.Namespace) -> int:
    """Run a command, turning the errors a user can act on into one line and an exit code.

    The fitting module is imported here, after Ctrl-C is watched: importing PyMC takes
    seconds, and an interruption during it must end like any other.
    """
    from analysis.models.fitting import ConvergenceError, SamplingInterrupted

    try:
        return args.run(args)
    except (DataError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BookError, ConvergenceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except SamplingInterrupted:
        raise KeyboardInterrupt from None


if __name__ == "__main__":
    sys.exit(main())
