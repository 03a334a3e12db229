"""``python -m examples.bookshelf``: run the Bookshelf story end to end.

Options::

    --database-url URL   use this database instead of domain.toml's
                         (default: $DATABASE_URL, else sqlite:///.archipel/bookshelf.db)
    --quiet              print only the last line (errors are always shown)

Exit status 0 when every chapter did what it expected, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys

from archipel.errors import ArchipelError
from examples.bookshelf import domain, storage
from examples.bookshelf.narrator import Narrator, StoryError
from examples.bookshelf.story import run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.bookshelf",
        description="Run the Bookshelf story: an online bookstore built with archipel.",
    )
    parser.add_argument(
        "--database-url",
        help="database for aggregates, projections and events "
        "(sqlite:///path.db or postgresql://user:password@host/dbname; default: domain.toml's)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the closing line")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.database_url:
        storage.use_database(domain, args.database_url)
    url = storage.database_url(domain)
    location = storage.describe(url)
    narrator = Narrator(quiet=args.quiet)
    try:
        storage.prepare(url)
        domain.init()
        with domain.domain_context():
            run(narrator, location)
    except (StoryError, ArchipelError) as error:
        # the story's own checks, or the framework refusing (e.g. no database)
        narrator.console.print(f"[bold red]The story stopped:[/] {type(error).__name__}: {error}")
        narrator.console.print(f"[dim]Data: {location}[/]")
        return 1
    finally:
        if domain.initialized:
            domain.shutdown()
    if args.quiet:
        narrator.console.print(f"Bookshelf story completed. Data: {location}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
