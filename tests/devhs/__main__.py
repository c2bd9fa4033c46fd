import os
import sys

if not __package__:
    # Run as a path (`python3 tests/devhs`): make `tests.devhs` importable.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    from tests.devhs.server import main
else:
    from .server import main

main()
