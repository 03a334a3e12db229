"""``python -m archipel``: the same command-line interface as the ``archipel`` script."""

from archipel.cli.main import main

if __name__ == "__main__":
    main()
