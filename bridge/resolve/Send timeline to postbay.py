"""Send timeline to postbay: export the current timeline, finish it with a recipe,
and import the conformed timeline into the `postbay` bin when it is done.

Appears in DaVinci Resolve under Workspace > Scripts once `postbay resolve install` has
copied it into Resolve's Scripts folder; runs outside Resolve too where a
`DaVinciResolveScript` module is importable:

    python "Send timeline to postbay.py" --recipe finish
"""

import os
import sys


def _library_folders():
    """Where postbay_resolve.py lives: beside this script (a checkout) or in its hidden
    .postbay folder (an install). Resolve may run scripts without __file__, so the
    default Scripts folders are tried too."""
    if os.environ.get("POSTBAY_RESOLVE_LIB"):
        yield os.environ["POSTBAY_RESOLVE_LIB"]
    if "__file__" in globals():
        here = os.path.dirname(os.path.abspath(__file__))
        yield os.path.join(here, ".postbay")
        yield here
    home = os.path.expanduser("~")
    for base in (os.path.join(home, ".local/share/DaVinciResolve/Fusion/Scripts"),
                 os.path.join(home, "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts"),
                 os.path.join(os.environ.get("APPDATA", home),
                              "Blackmagic Design/DaVinci Resolve/Support/Fusion/Scripts")):
        yield os.path.join(base, "Utility", ".postbay")


for _folder in _library_folders():
    if os.path.isfile(os.path.join(_folder, "postbay_resolve.py")):
        sys.path.insert(0, _folder)
        break
try:
    import postbay_resolve
except ImportError:
    print("postbay: postbay_resolve.py was not found beside this script; run `postbay resolve install` again",
          file=sys.stderr)
    _status = 1
else:
    _status = postbay_resolve.send_main(sys.argv[1:], globals())
# Inside Resolve (which hands scripts a `resolve` global) the console stays open; outside, exit with the status.
if __name__ == "__main__" and "resolve" not in globals():
    sys.exit(_status)
