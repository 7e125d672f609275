"""Command line: `python -m analysis data [--check] [--json]`, `python -m analysis book`."""

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


def _fit(args: argparse.Namespace) -> int:
    from .ehcp_model import cli_fit

    if args.model != "ehcp":
        print(f"error: model '{args.model}' is not built yet (only 'ehcp')", file=sys.stderr)
        return 2
    report = cli_fit(args.holdout)
    print(json.dumps(report, indent=1, default=float) if args.json else report)
    return 0 if report["passed"] else 1


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
