"""``python -m app.cli``: the ``twoloop`` command."""

from app.cli import main

if __name__ == "__main__":
    main()
