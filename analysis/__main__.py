"""Command line: `python -m analysis data|fit|evaluate|book` (see `--help`)."""

from __future__ import annotations

import argparse
import json
import sys

from .errors import DataError


def _data(args: argparse.Namespace) -> int:
    import pandas as pd

    from . import panel, paths
    from .sources import Store

    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if args.json else (lambda msg: print(msg, flush=True))
    store = Store(route=args.route, log=not args.json)
    panel.ensure(store, log=log)
    if args.check:
        frame = pd.read_parquet(paths.PANEL)
        dictionary = pd.read_csv(paths.PROCESSED / panel.OUTPUTS["variables"])
        checks = json.loads((paths.PROCESSED / panel.OUTPUTS["checks"]).read_text())
        out = panel.report(frame, dictionary) | {"national_checks": checks["national_totals"], "notes": checks["notes"]}
        if args.json:
            print(json.dumps(out, indent=1))
        else:
            statuses = pd.DataFrame(out["national_checks"])["status"].value_counts().to_dict()
            print(f"{out['n_las']} LAs, years {out['years'][0]}–{out['years'][1]}, {len(dictionary)} variables; national checks: {statuses}")
    return 0


def _book(args: argparse.Namespace) -> int:
    from . import book

    book.build(force=args.force)
    return 0


def _report(report: dict, as_json: bool) -> int:
    """Print a model report (JSON or a dict) and return 0 only if its convergence checks passed."""
    print(json.dumps(report, indent=1, default=float) if as_json else report)
    return 0 if report["passed"] else 1


def _fit(args: argparse.Namespace) -> int:
    if args.model == "ehcp":
        from .ehcp_model import cli_fit

        return _report(cli_fit(args.holdout), args.json)
    if args.holdout is not None:
        print("error: --holdout applies to the ehcp model only", file=sys.stderr)
        return 2
    from .spend_model import cli_fit

    return _report(cli_fit(), args.json)


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluation import cli_evaluate

    return _report(cli_evaluate(), args.json)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="fetch the sources and build data/processed/panel.parquet")
    data.add_argument("--check", action="store_true", help="report coverage and national totals")
    data.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    data.add_argument("--from", dest="route", choices=["auto", "mirror", "url"], default="auto",
                      help="where files come from: the mirror if it has them, else the URL (auto)")
    data.set_defaults(run=_data)
    fit = sub.add_parser("fit", help="fit a model (cached) and report its diagnostics and held-out scores")
    fit.add_argument("model", choices=["ehcp", "spend"])
    fit.add_argument("--holdout", type=int, default=None, help="withhold this January and score its prediction")
    fit.add_argument("--json", action="store_true")
    fit.set_defaults(run=_fit)
    ev = sub.add_parser("evaluate", help="compare Safety Valve and DBV LAs with matched LAs (event study, synthetic control)")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(run=_evaluate)
    bk = sub.add_parser("book", help="build the data, execute the chapters and render the book into _book/")
    bk.add_argument("--force", action="store_true", help="re-execute every chapter even if nothing changed")
    bk.set_defaults(run=_book)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
